// A RedisCluster (3 masters, TLS) through a ClusterGateway vs native TLS, deployed by the engine: redis-benchmark
// against the three masters at once, each run on keys of one master (a hash tag in its slot range), once through the
// gateway's loopback listeners and once straight to the nodes' TLS ports, for each spiped setting worth comparing.
// redis-benchmark's --cluster mode follows the addresses the nodes announce and has no natMap, so the three runs in
// parallel stand in for it: the same load spread over every shard. TLS runs inside the tunnels.
// Alone: `npx ts-node --transpile-only bench/gateway.ts` (subnets 172.25.234-235.0/24, ports 27430-27443).
import * as fs from "fs";
import * as path from "path";
import { RedisCluster } from "../components/cluster";
import { ClusterGateway } from "../components/gateway";
import { clusterOutputs } from "../components/cluster";
import { plainOutputs, testStack } from "../test/integration/deploy";
import { docker, IMAGE, Scope } from "../test/integration/harness";
import { cleanupScope, dockerAsync, median } from "./common";

const keySlot: (key: string) => number = require("cluster-key-slot");

const CLUSTER_SUBNET = "172.25.234.0/24";
const TRANSIT_SUBNET = "172.25.235.0/24";
const BASE_PORT = 27430;
const CLIENT = "bench-gw-client";
const CLIENTS_PER_MASTER = 16;
const REQUESTS_PER_MASTER = 20_000;
const REPS = 3;

export const GATEWAY_VARIANTS = [
    { id: "default", what: "keepalive on, -n 100 (component defaults)", keepalive: true },
    { id: "nokeepalive", what: "keepalive off (-j), -n 100", keepalive: false },
];

interface Endpoint { host: string; port: number; tag: string }
export interface GatewayRow { target: string; pipeline: number; set: number; get: number }

/** A hash tag whose slot lies in `range`. */
function tagIn(range: [number, number]): string {
    for (let i = 0; ; i++) if (keySlot(`t${i}`) >= range[0] && keySlot(`t${i}`) <= range[1]) return `t${i}`;
}

export async function benchGateway(scope: Scope, log: (s: string) => void): Promise<GatewayRow[]> {
    let keepalive = true;
    const stack = await testStack(scope, "benchgw", async () => {
        const cluster = new RedisCluster("bench-gwc", { masters: 3, replicasPerMaster: 0, antiAffinity: "soft", subnet: CLUSTER_SUBNET, loopbackSans: true });
        const gw = new ClusterGateway("bench-gw", { cluster, subnet: TRANSIT_SUBNET, basePort: BASE_PORT, keepalive });
        return { cluster: clusterOutputs(cluster), gateway: { endpoints: gw.endpoints } };
    });
    const rows: GatewayRow[] = [];
    try {
        let out = plainOutputs((await stack.up()).outputs);
        const app = out.cluster.appUser as { username: string; password: string };
        // On the host's network: it reaches the gateway's loopback listeners and, for the baseline, the nodes' addresses.
        docker("run", "-d", "--name", CLIENT, "--label", scope.label, "--network", "host", IMAGE, "sleep", "3600");
        const ca = path.join(scope.dir, "ca.crt");
        fs.writeFileSync(ca, out.cluster.caCertPem, { mode: 0o600 });
        docker("cp", ca, `${CLIENT}:/ca.crt`);
        const masters = (out.cluster.nodes as { name: string; ip: string; port: number; role: string; slots: [number, number] }[]).filter(n => n.role === "master");
        const native: Endpoint[] = masters.map(m => ({ host: m.ip, port: m.port, tag: tagIn(m.slots) }));
        const through = (o: typeof out): Endpoint[] => masters.map(m => ({
            host: "127.0.0.1", port: (o.gateway.endpoints as { node: string; port: number }[]).find(e => e.node === m.name)!.port, tag: tagIn(m.slots),
        }));

        /** req/s summed over the three masters, for one command. */
        const run = async (eps: Endpoint[], command: "SET" | "GET", pipeline: number): Promise<number> => {
            const rps = await Promise.all(eps.map(async ep => {
                const args = ["exec", CLIENT, "timeout", "120", "redis-benchmark", "-h", ep.host, "-p", String(ep.port), "--tls", "--cacert", "/ca.crt",
                    "--user", app.username, "-a", app.password, "-c", String(CLIENTS_PER_MASTER), "-n", String(REQUESTS_PER_MASTER), "-P", String(pipeline),
                    "-r", "10000", "--csv", command, `{${ep.tag}}:__rand_int__`, ...(command === "SET" ? ["xxxxxxxxxxxxxxxx"] : [])];
                const csv = await dockerAsync(args, { timeoutMs: 150_000 });
                const line = csv.split("\n").find(l => l.startsWith(`"${command}`));
                if (!line) throw new Error(`redis-benchmark gave no result: ${csv.slice(0, 200)}`);
                return Number(line.split(",")[1].replace(/"/g, ""));
            }));
            return rps.reduce((a, b) => a + b, 0);
        };
        const measure = async (target: string, eps: Endpoint[]) => {
            for (const pipeline of [1, 16]) {
                const set: number[] = [];
                const get: number[] = [];
                for (let i = 0; i < REPS; i++) {
                    set.push(await run(eps, "SET", pipeline));
                    get.push(await run(eps, "GET", pipeline));
                }
                rows.push({ target, pipeline, set: median(set), get: median(get) });
                log(`  ${target} P=${pipeline}: SET ${median(set).toFixed(0)}/s GET ${median(get).toFixed(0)}/s`);
            }
        };
        await measure("native TLS", native);
        for (const v of GATEWAY_VARIANTS) {
            if (v.keepalive !== keepalive) {
                keepalive = v.keepalive;
                out = plainOutputs((await stack.up()).outputs);
            }
            await measure(`gateway:${v.id}`, through(out));
        }
        return rows;
    } finally {
        await dockerAsync(["rm", "-f", CLIENT]).catch(() => undefined);
        await stack.destroy().catch(e => log(`destroy failed: ${(e as Error).message}`));
    }
}

export function gatewayTable(rows: GatewayRow[]): string {
    const base = (p: number) => rows.find(r => r.target === "native TLS" && r.pipeline === p)!;
    const f = (n: number) => Math.round(n).toLocaleString("en-US");
    return ["| target | -P | SET req/s | GET req/s | SET vs native TLS | GET vs native TLS |", "|---|---|---|---|---|---|",
        ...rows.map(r => `| ${r.target}${r.target.startsWith("gateway:") ? ` (${GATEWAY_VARIANTS.find(v => `gateway:${v.id}` === r.target)!.what})` : ""} | ${r.pipeline} | ${f(r.set)} | ${f(r.get)} | ${(r.set / base(r.pipeline).set).toFixed(2)} | ${(r.get / base(r.pipeline).get).toFixed(2)} |`),
    ].join("\n");
}

if (require.main === module) {
    const scope = new Scope();
    benchGateway(scope, s => console.log(s))
        .then(rows => console.log(`\n${CLIENTS_PER_MASTER} clients x 3 masters, ${REQUESTS_PER_MASTER} requests per master, median of ${REPS}, load average ${require("os").loadavg().map((l: number) => l.toFixed(1)).join(" ")}\n\n${gatewayTable(rows)}`))
        .catch(e => { console.error(e); process.exitCode = 1; })
        .finally(() => cleanupScope(scope));
}
