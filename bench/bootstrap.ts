// Cluster bootstrap, containers ready -> healthy: our converge() vs `redis-cli --cluster create`, each on its
// own fresh set of identical plain-TCP, ACL-protected containers rendered by renderRedisConf.
import { performance } from "perf_hooks";
import { converge } from "../components/cluster/converge";
import { placeClusterNodes, PlannedNode } from "../components/cluster/plan";
import { renderRedisConf } from "../components/redis/conf";
import * as wire from "../components/redis/wire";
import { aclFor, nodeFiles, redisCommand, Scope, testUsers } from "../test/integration/harness";
import { cleanupScope, dockerAsync, median, startContainers } from "./common";

type Client = Awaited<ReturnType<typeof wire.connect>>;
export type Contender = "ours" | "redis-cli";

export interface BootstrapRun {
    contender: Contender;
    masters: number;
    ms?: number;
    cliReturnedMs?: number;
    error?: string;
}

/** A bench size; `settleMs` waits after "ready" before the clock starts (see CLUSTER_WRITABLE_DELAY in results.md). */
export interface BootstrapSize {
    masters: number;
    reps: number;
    settleMs?: number;
}

/** Every node cluster_state:ok and `replicas` replicas with master_link_status:up (roles read live, not from a plan). */
async function healthy(clients: Client[], replicas: number): Promise<true | string> {
    const states = await Promise.all(clients.map(async c => ({ ci: await wire.clusterInfo(c), ri: await wire.info(c, "replication") })));
    const notOk = states.filter(s => s.ci.cluster_state !== "ok").length;
    if (notOk) return `${notOk} nodes not cluster_state:ok`;
    const linked = states.filter(s => s.ri.role === "slave" && s.ri.master_link_status === "up").length;
    return linked === replicas || `${linked}/${replicas} replicas linked`;
}

export async function start(scope: Scope, plan: PlannedNode[], subnet: string, acl: string, replicationPw: string): Promise<void> {
    const net = scope.network(`${plan[0].name.replace(/-m0$/, "")}-net-${scope.label.slice(-4)}`, subnet);
    await startContainers(
        scope,
        net,
        plan.map(n => ({
            name: n.name,
            ip: n.ip,
            command: redisCommand,
            files: nodeFiles(
                renderRedisConf({
                    port: n.port,
                    cluster: { announceIp: n.ip, announcePort: n.port, announceBusPort: n.busPort, nodeTimeoutMs: 3000 },
                    replicationUser: { name: "replication", password: replicationPw },
                }),
                acl,
            ),
        })),
    );
}

/** One measurement on a fresh set of 2*masters containers, removed afterwards. */
export async function runOnce(
    contender: Contender,
    masters: number,
    subnet: string,
    scopes: Set<Scope>,
    settleMs = 0,
): Promise<BootstrapRun> {
    const scope = new Scope();
    scopes.add(scope);
    const clients: Client[] = [];
    try {
        const plan = placeClusterNodes({
            name: `bench-${contender === "ours" ? "ours" : "cli"}${masters}`,
            masters,
            replicasPerMaster: 1,
            hosts: ["local"],
            subnet,
            port: 6379,
        });
        const pw = testUsers();
        const auth = { username: "admin", password: pw.admin };
        await start(scope, plan, subnet, aclFor(pw), pw.replication);
        // Ready: every container answers PING as admin. These clients then watch for health (both contenders alike).
        await wire.waitUntil(
            "every node to answer PING",
            async () => {
                for (const n of plan.slice(clients.length)) {
                    const c = await wire.connect({ host: n.ip, port: n.port }, { auth, connectTimeoutMs: 1000 });
                    await c.ping().catch(e => {
                        void wire.close(c);
                        throw e;
                    });
                    clients.push(c);
                }
                return true;
            },
            60_000,
            50,
        );
        await new Promise(r => setTimeout(r, settleMs));

        const t0 = performance.now();
        let cliReturnedMs: number | undefined;
        if (contender === "ours") {
            await converge({ nodes: plan.map(({ host: _h, ...n }) => n), auth, timeoutMs: 180_000 });
        } else {
            await dockerAsync(
                [
                    "exec",
                    "-e",
                    "REDISCLI_AUTH",
                    plan[0].name,
                    "timeout",
                    "170",
                    "redis-cli",
                    "--user",
                    "admin",
                    "--cluster",
                    "create",
                    ...plan.map(n => `${n.ip}:${n.port}`),
                    "--cluster-replicas",
                    "1",
                    "--cluster-yes",
                ],
                { timeoutMs: 180_000, env: { REDISCLI_AUTH: pw.admin } },
            );
            cliReturnedMs = performance.now() - t0;
        }
        await wire.waitUntil("healthy cluster", () => healthy(clients, masters), 180_000, 50);
        return { contender, masters, ms: performance.now() - t0, cliReturnedMs };
    } catch (e) {
        return { contender, masters, error: (e as Error).message.replace(/\s+/g, " ").slice(0, 300) };
    } finally {
        await Promise.all(clients.map(wire.close));
        const left = await cleanupScope(scope);
        if (left) console.error(`  warning: ${left}`);
        scopes.delete(scope);
    }
}

export interface BootstrapSummary {
    masters: number;
    nodes: number;
    settleMs: number;
    runs: BootstrapRun[];
    ours?: number;
    cli?: number;
    cliReturned?: number;
}

/** reps fresh runs per contender and size, alternating which contender goes first. */
export async function benchBootstrap(
    sizes: BootstrapSize[],
    subnets: Record<Contender, string>,
    scopes: Set<Scope>,
    log: (s: string) => void,
): Promise<BootstrapSummary[]> {
    const out: BootstrapSummary[] = [];
    for (const { masters, reps, settleMs = 0 } of sizes) {
        const runs: BootstrapRun[] = [];
        for (let i = 0; i < reps; i++) {
            const order: Contender[] = i % 2 ? ["redis-cli", "ours"] : ["ours", "redis-cli"];
            for (const c of order) {
                const r = await runOnce(c, masters, subnets[c], scopes, settleMs);
                log(
                    `  bootstrap ${masters}+${masters}${settleMs ? ` (+${settleMs} ms)` : ""} ${c.padEnd(9)} rep ${i + 1}: ${r.ms !== undefined ? `${(r.ms / 1000).toFixed(2)} s` : `FAILED ${r.error}`}` +
                        (r.cliReturnedMs !== undefined ? ` (redis-cli returned at ${(r.cliReturnedMs / 1000).toFixed(2)} s)` : ""),
                );
                runs.push(r);
            }
        }
        const ok = (c: Contender) => runs.filter(r => r.contender === c && r.ms !== undefined);
        const med = (xs: number[]) => (xs.length ? median(xs) : undefined);
        out.push({
            masters,
            nodes: 2 * masters,
            settleMs,
            runs,
            ours: med(ok("ours").map(r => r.ms!)),
            cli: med(ok("redis-cli").map(r => r.ms!)),
            cliReturned: med(ok("redis-cli").map(r => r.cliReturnedMs!)),
        });
    }
    return out;
}
