// Durability's price: redis-benchmark SET throughput against one redis-server with /data on a Docker volume, as every
// node has it, with appendonly no / appendfsync everysec (RedisCluster's default) / appendfsync always (a chain's
// head, LockQuorum). Part of `npm run bench`; alone: `npx ts-node --transpile-only bench/durability.ts <subnet> [prefix]`.
import { APP_USER_RULES, AppendFsync, renderAclFile, renderRedisConf } from "../components/redis/conf";
import * as v from "../components/validate";
import * as wire from "../components/redis/wire";
import { nodeFiles, password, redisCommand, Scope } from "../test/integration/harness";
import { cleanupScope, dockerAsync, median } from "./common";

export interface DurabilityRow {
    setting: string;
    pipeline: number;
    set?: number;
    error?: string;
}

const SETTINGS: { setting: string; appendonly: boolean; appendfsync?: AppendFsync }[] = [
    { setting: "appendonly no", appendonly: false },
    { setting: "appendfsync everysec", appendonly: true, appendfsync: "everysec" },
    { setting: "appendfsync always", appendonly: true, appendfsync: "always" },
];
export const DURABILITY_CLIENTS = 50;
const REQUESTS: Record<number, number> = { 1: 200_000, 16: 1_000_000 };

/** SET req/s per setting, unpipelined and with -P 16, median of `reps` runs, 50 clients, from a container on the same network. */
export async function benchDurability(
    scope: Scope,
    subnet: string,
    log: (s: string) => void,
    prefix = "bench-dur",
    reps = 3,
): Promise<DurabilityRow[]> {
    const ip = (n: number) => v.addressIn(v.subnet("subnet", subnet), n);
    const net = scope.network(`${prefix}-net`, subnet);
    const app = { username: "app", password: password() };
    const acl = renderAclFile([{ name: "app", password: app.password, rules: APP_USER_RULES }]);
    const client = scope.container(`${prefix}-client`, { network: net, ip: ip(9), command: ["sleep", "3600"] });
    const targets = SETTINGS.map((s, i) => {
        const name = `${prefix}-${i}`;
        scope.container(name, {
            network: net,
            ip: ip(10 + i),
            command: redisCommand,
            volume: scope.volume(`${name}-data`),
            files: nodeFiles(renderRedisConf({ port: 6379, appendonly: s.appendonly, appendfsync: s.appendfsync }), acl),
        });
        return { ...s, host: ip(10 + i) };
    });
    for (const t of targets) {
        await wire.waitUntil(
            `${t.setting} to answer`,
            () =>
                wire.withClient(
                    { host: t.host, port: 6379 },
                    { auth: app, connectTimeoutMs: 1000 },
                    async c => (await c.ping()) === "PONG",
                ),
            30_000,
            100,
        );
    }
    const rows: DurabilityRow[] = [];
    for (const P of [1, 16]) {
        for (const t of targets) {
            const runs: number[] = [];
            let error: string | undefined;
            for (let r = 0; r < reps && !error; r++) {
                try {
                    const out = await dockerAsync(
                        [
                            "exec",
                            client,
                            "timeout",
                            "120",
                            "redis-benchmark",
                            "-h",
                            t.host,
                            "-p",
                            "6379",
                            "--user",
                            "app",
                            "-a",
                            app.password,
                            "-c",
                            String(DURABILITY_CLIENTS),
                            "-n",
                            String(REQUESTS[P]),
                            "-P",
                            String(P),
                            "-r",
                            "100000",
                            "-d",
                            "64",
                            "-t",
                            "set",
                            "--csv",
                        ],
                        { timeoutMs: 150_000 },
                    );
                    const line = out.split("\n").find(l => l.replace(/"/g, "").startsWith("SET,"));
                    if (line) runs.push(Number(line.replace(/"/g, "").split(",")[1]));
                    else error = `no result: ${out.slice(0, 120)}`;
                } catch (e) {
                    error = (e as Error).message.slice(0, 160);
                }
            }
            const row = { setting: t.setting, pipeline: P, set: runs.length ? median(runs) : undefined, error };
            log(`  ${t.setting.padEnd(22)} P=${String(P).padEnd(2)} ${error ?? `SET ${Math.round(row.set!)}/s`}`);
            rows.push(row);
        }
    }
    return rows;
}

/** The rows as a markdown table, each against appendonly no. */
export function durabilityTable(rows: DurabilityRow[]): string {
    const base = (P: number) => rows.find(r => r.pipeline === P && r.setting === SETTINGS[0].setting)?.set;
    return [
        "| setting | pipeline | SET req/s | vs appendonly no |",
        "|---|---|---|---|",
        ...rows.map(r => {
            const b = base(r.pipeline);
            return `| ${r.setting} | ${r.pipeline} | ${r.error ?? Math.round(r.set!).toLocaleString("en-US")} | ${r.set && b ? (r.set / b).toFixed(2) : "n/a"} |`;
        }),
    ].join("\n");
}

if (require.main === module) {
    const [subnet, prefix] = process.argv.slice(2);
    if (!subnet) throw new Error("usage: bench/durability.ts <subnet, e.g. 172.25.30.0/24> [container name prefix]");
    const scope = new Scope();
    const t0 = Date.now();
    benchDurability(scope, subnet, s => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${s}`), prefix)
        .then(rows => console.log(`\n${durabilityTable(rows)}\n`))
        .catch(e => {
            console.error(e);
            process.exitCode = 1;
        })
        .finally(() => cleanupScope(scope));
}
