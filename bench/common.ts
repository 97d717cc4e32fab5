// Small helpers shared by the benchmarks: async docker calls, bounded parallel container start, medians.
import * as fs from "fs";
import * as path from "path";
import { docker, dockerAsync, IMAGE, Scope } from "../test/integration/harness";

export { dockerAsync };

export interface ContainerSpec {
    name: string;
    ip?: string;
    command: string[];
    files?: Record<string, string | Buffer>;
}

/** Like Scope.container (same label, so Scope.cleanup removes them), several at a time. */
export async function startContainers(scope: Scope, network: string, specs: ContainerSpec[], parallel = 6): Promise<void> {
    const queue = [...specs];
    let stop = false;
    let starting: Promise<unknown> = Promise.resolve();
    const worker = async () => {
        for (let s = queue.shift(); s && !stop; s = queue.shift()) {
            await dockerAsync([
                "create",
                "--name",
                s.name,
                "--label",
                scope.label,
                "--network",
                network,
                ...(s.ip ? ["--ip", s.ip] : []),
                "--network-alias",
                s.name,
                IMAGE,
                ...s.command,
            ]).catch(e => {
                stop = true;
                throw e;
            });
            if (s.files) {
                const stage = path.join(scope.dir, s.name);
                for (const [file, content] of Object.entries(s.files)) {
                    fs.mkdirSync(path.dirname(path.join(stage, file)), { recursive: true });
                    fs.writeFileSync(path.join(stage, file), content, { mode: 0o600 });
                }
                await dockerAsync(["cp", `${stage}/.`, `${s.name}:/`]);
            }
            // One `docker start` at a time: concurrent network attach/detach can leave Docker 20.10 with a stale
            // endpoint count ("network has active endpoints", moby#42119) that only a daemon restart clears.
            const started = starting.then(() => dockerAsync(["start", s.name]));
            starting = started.catch(() => undefined);
            await started.catch(e => {
                stop = true;
                throw e;
            });
        }
    };
    // Let every worker finish before reporting a failure, so cleanup never races a container still being created.
    const results = await Promise.allSettled(Array.from({ length: Math.min(parallel, specs.length) }, worker));
    const failed = results.find(r => r.status === "rejected") as PromiseRejectedResult | undefined;
    if (failed) throw failed.reason;
}

export function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/** Removes a scope's containers and networks; retries the network removal a few times. Returns what is left, if anything. */
export async function cleanupScope(scope: Scope): Promise<string | undefined> {
    // Containers one at a time (see startContainers), then Scope.cleanup for the network and the temp dir.
    for (const id of docker("ps", "-aq", "--filter", `label=${scope.label}`).split("\n").filter(Boolean)) {
        await dockerAsync(["rm", "-f", "-v", id]).catch(() => undefined);
    }
    try {
        scope.cleanup();
        return undefined;
    } catch {
        // Scope.cleanup stopped at the network: its temp dir (passwords, keys) must still go.
        fs.rmSync(scope.dir, { recursive: true, force: true });
        for (let i = 0; i < 10; i++) {
            await sleep(1000);
            const nets = docker("network", "ls", "-q", "--filter", `label=${scope.label}`).split("\n").filter(Boolean);
            if (!nets.length) return undefined;
            try {
                docker("network", "rm", ...nets);
                return undefined;
            } catch {
                /* retry */
            }
        }
        return `could not remove network(s) labelled ${scope.label}`;
    }
}

/** The first `count` /24s of 172.25.100-109 that no existing Docker network overlaps (a stale one may hold a subnet). */
export function freeSubnets(count: number): string[] {
    const used = new Set(
        docker("network", "ls", "-q")
            .split("\n")
            .filter(Boolean)
            .flatMap(id => docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", id).split(" ").filter(Boolean)),
    );
    const free = Array.from({ length: 10 }, (_, i) => `172.25.${100 + i}.0/24`).filter(s => !used.has(s));
    if (free.length < count) throw new Error(`need ${count} free /24s in 172.25.100-109.0/24, found ${free.join(", ") || "none"}`);
    return free.slice(0, count);
}
