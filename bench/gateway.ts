// A RedisCluster (3 masters, TLS) through a ClusterGateway vs native TLS, deployed by the engine: `redis-benchmark
// --cluster` (it reads CLUSTER NODES and spreads the load over every master by the addresses they announce), once
// straight to the nodes and once through the gateway, for each spiped setting worth comparing. redis-benchmark has no
// natMap, so the bench gives it one in the kernel: its container's network namespace DNATs each announced address to
// the gateway's spiped client for that node (the map the natMap output holds), so every connection, the seed's and the
// ones it opens after reading CLUSTER NODES, goes through a tunnel. TLS runs inside the tunnels. Both runs start in a
// container of their own (native: on the nodes' network; gateway: on the transit network, beside the spiped clients).
// `npm run bench` runs it as part 6; alone it fills section 6 of bench/results.md and its summary rows:
// `npx ts-node --transpile-only bench/gateway.ts [CLUSTER_SUBNET TRANSIT_SUBNET]` (default 172.25.242-243.0/24).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { clusterOutputs, RedisCluster } from "../components/cluster";
import { ClusterGateway } from "../components/gateway";
import { plainOutputs, testStack } from "../test/integration/deploy";
import { docker, IMAGE, Scope } from "../test/integration/harness";
import { cleanupScope, dockerAsync, median } from "./common";

const BASE_PORT = 27430;
const CLIENTS = 48;
const REQUESTS: Record<number, number> = { 1: 30_000, 16: 200_000 };
const REPS = 3;

/** The spiped settings the data-path bench (section 2) found worth comparing; `maxConnections` stays above CLIENTS. */
export const GATEWAY_VARIANTS = [
    { id: "default", what: "keepalive on, -n 100 (component defaults)", keepalive: true },
    { id: "nokeepalive", what: "keepalive off (-j), -n 100", keepalive: false },
];

export interface GatewayRow {
    target: string;
    pipeline: number;
    set?: number;
    get?: number;
    error?: string;
}

/** iptables inside a container's network namespace (from this machine: the image has no iptables, the container no capability). */
function inContainerNet(container: string, ...args: string[]): void {
    const pid = docker("inspect", "-f", "{{.State.Pid}}", container);
    execFileSync("nsenter", [`--net=/proc/${pid}/ns/net`, "iptables", ...args], { stdio: "pipe" });
}

export async function benchGateway(scope: Scope, subnets: [string, string], log: (s: string) => void): Promise<GatewayRow[]> {
    const [clusterSubnet, transitSubnet] = subnets;
    let keepalive = true;
    const stack = await testStack(scope, "benchgw", async () => {
        const cluster = new RedisCluster("bench-gwc", {
            masters: 3,
            replicasPerMaster: 0,
            antiAffinity: "soft",
            subnet: clusterSubnet,
            loopbackSans: true,
        });
        const gw = new ClusterGateway("bench-gw", { cluster, subnet: transitSubnet, basePort: BASE_PORT, keepalive });
        return {
            cluster: clusterOutputs(cluster),
            gateway: { endpoints: gw.endpoints, transit: gw.transitNetworks.local },
            nodeNet: cluster.hostNetworks[0].networkName,
        };
    });
    const rows: GatewayRow[] = [];
    try {
        let out = plainOutputs((await stack.up()).outputs);
        const app = out.cluster.appUser as { username: string; password: string };
        const nodes = out.cluster.nodes as { name: string; ip: string; port: number }[];
        const ca = path.join(scope.dir, "ca.crt");
        fs.writeFileSync(ca, out.cluster.caCertPem, { mode: 0o600 });
        const client = (name: string, network: string) => {
            docker("run", "-d", "--name", name, "--label", scope.label, "--network", network, IMAGE, "sleep", "3600");
            docker("cp", ca, `${name}:/tmp/ca.crt`);
            return name;
        };
        const transit = out.gateway.transit as string;
        const native = client("bench-gw-native", out.nodeNet);
        const through = client("bench-gw-through", transit);
        /** The kernel's natMap in `through`: each announced ip:port to that node's spiped client on the transit network. */
        const mapThrough = (o: typeof out) => {
            inContainerNet(through, "-t", "nat", "-F", "OUTPUT");
            for (const n of nodes) {
                const port = (o.gateway.endpoints as { node: string; port: number }[]).find(e => e.node === n.name)!.port;
                const ip = docker(
                    "inspect",
                    "-f",
                    `{{(index .NetworkSettings.Networks "${transit}").IPAddress}}`,
                    `bench-gw-${n.name}-client`,
                );
                inContainerNet(
                    through,
                    "-t",
                    "nat",
                    "-A",
                    "OUTPUT",
                    "-p",
                    "tcp",
                    "-d",
                    n.ip,
                    "--dport",
                    String(n.port),
                    "-j",
                    "DNAT",
                    "--to-destination",
                    `${ip}:${port}`,
                );
            }
        };

        const run = async (container: string, pipeline: number): Promise<{ set: number; get: number }> => {
            const csv = await dockerAsync(
                [
                    "exec",
                    container,
                    "timeout",
                    "150",
                    "redis-benchmark",
                    "--cluster",
                    "-h",
                    nodes[0].ip,
                    "-p",
                    String(nodes[0].port),
                    "--tls",
                    "--cacert",
                    "/tmp/ca.crt",
                    "--user",
                    app.username,
                    "-a",
                    app.password,
                    "-c",
                    String(CLIENTS),
                    "-n",
                    String(REQUESTS[pipeline]),
                    "-P",
                    String(pipeline),
                    "-r",
                    "10000",
                    "-d",
                    "16",
                    "--csv",
                    "-t",
                    "set,get",
                ],
                { timeoutMs: 180_000 },
            );
            const rps = (cmd: string) => {
                const line = csv.split("\n").find(l => l.startsWith(`"${cmd}"`));
                if (!line) throw new Error(`redis-benchmark gave no ${cmd} result: ${csv.slice(0, 300)}`);
                return Number(line.split(",")[1].replace(/"/g, ""));
            };
            return { set: rps("SET"), get: rps("GET") };
        };
        const measure = async (target: string, container: string) => {
            for (const pipeline of [1, 16]) {
                const set: number[] = [],
                    get: number[] = [];
                try {
                    for (let i = 0; i < REPS; i++) {
                        const r = await run(container, pipeline);
                        set.push(r.set);
                        get.push(r.get);
                    }
                    rows.push({ target, pipeline, set: median(set), get: median(get) });
                    log(`  ${target} P=${pipeline}: SET ${median(set).toFixed(0)}/s GET ${median(get).toFixed(0)}/s`);
                } catch (e) {
                    rows.push({ target, pipeline, error: (e as Error).message.split("\n")[0].slice(0, 200) });
                    log(`  ${target} P=${pipeline}: FAILED ${rows[rows.length - 1].error}`);
                }
            }
        };
        await measure("native TLS", native);
        for (const v of GATEWAY_VARIANTS) {
            if (v.keepalive !== keepalive) {
                keepalive = v.keepalive;
                out = plainOutputs((await stack.up()).outputs); // the spiped ends are replaced with the new setting
            }
            mapThrough(out);
            await measure(`gateway:${v.id}`, through);
        }
        return rows;
    } finally {
        // The benchmark's own containers first: the stack's networks cannot go while they sit on them.
        await dockerAsync(["rm", "-f", "bench-gw-native", "bench-gw-through"]).catch(() => undefined);
        await stack.destroy().catch(e => log(`destroy failed: ${(e as Error).message.split("\n")[0]}`));
    }
}

const f = (n?: number) => (n === undefined ? "n/a" : Math.round(n).toLocaleString("en-US"));
const label = (target: string) => {
    const v = GATEWAY_VARIANTS.find(x => `gateway:${x.id}` === target);
    return v ? `${target} (${v.what})` : target;
};
const baseOf = (rows: GatewayRow[], r: GatewayRow) => rows.find(b => b.target === "native TLS" && b.pipeline === r.pipeline);
const ratio = (a?: number, b?: number) => (a === undefined || b === undefined ? "n/a" : (a / b).toFixed(2));

/** The summary rows (comparison, ours, baseline, ratio) for results.md's summary table. */
export function gatewaySummaryRows(rows: GatewayRow[]): string[][] {
    return rows
        .filter(r => r.target !== "native TLS")
        .flatMap(r =>
            (["get", "set"] as const).map(k => [
                `${k.toUpperCase()} P=${r.pipeline} c=${CLIENTS} --cluster: ${label(r.target)} vs native TLS`,
                r.error ?? `${f(r[k])}/s`,
                `${f(baseOf(rows, r)?.[k])}/s`,
                ratio(r[k], baseOf(rows, r)?.[k]),
            ]),
        );
}

/** Section 6 of results.md. */
export function gatewaySection(rows: GatewayRow[], error = ""): string {
    const best = GATEWAY_VARIANTS.map(v => `gateway:${v.id}`)
        .map(t => ({ t, score: rows.filter(r => r.target === t).reduce((s, r) => s + (r.set ?? 0) + (r.get ?? 0), 0) }))
        .sort((a, b) => b.score - a.score)[0];
    return `## 6. ClusterGateway: redis-benchmark --cluster through the gateway vs native TLS (bench/gateway.ts)

A RedisCluster of 3 masters (TLS, \`loopbackSans\`) and a ClusterGateway in front of it, deployed through the engine on one
Docker engine. \`redis-benchmark --cluster -c ${CLIENTS} -t set,get -d 16 -r 10000\` (the \`app\` user), -n ${REQUESTS[1]} unpipelined,
-n ${REQUESTS[16]} with -P 16, median of ${REPS} runs. Native TLS: from a container on the nodes' network. Through the gateway: from a
container on the gateway's transit network whose network namespace DNATs each address the nodes announce to that node's
spiped client (the gateway's \`natMap\`, in the kernel: redis-benchmark has none), so the seed and every connection
redis-benchmark opens after reading CLUSTER NODES go client -> spiped client -> spiped server -> node, TLS inside. An
application on the gateway's host reaches the spiped clients through their published 127.0.0.1 ports, which adds
Docker's userland proxy (not measured here).${error ? ` Failed: ${error}.` : ""}

| target | -P | SET req/s | GET req/s | SET vs native TLS | GET vs native TLS |
|---|---|---|---|---|---|
${rows.map(r => `| ${label(r.target)} | ${r.pipeline} | ${r.error ? `failed: ${r.error}` : f(r.set)} | ${r.error ? "" : f(r.get)} | ${ratio(r.set, baseOf(rows, r)?.set)} | ${ratio(r.get, baseOf(rows, r)?.get)} |`).join("\n")}

Best spiped setting for the gateway in this run (sum of SET+GET req/s, unpipelined and -P 16): **${best ? label(best.t) : "n/a"}**.
Each request crosses two more processes than native TLS (the spiped client and server, each a copy with encryption
and a MAC), all on the same cores as redis-server and redis-benchmark.
`;
}

/** Puts section 6 and the gateway summary rows into an existing results.md (a run of this part alone). */
export function spliceResults(md: string, rows: GatewayRow[], error = ""): string {
    const section = gatewaySection(rows, error);
    const at = md.indexOf("\n## 6. ");
    const next = at < 0 ? -1 : md.indexOf("\n## ", at + 1);
    let text = `${(at < 0 ? md : md.slice(0, at)).trimEnd()}\n\n${section}${next < 0 ? "" : `\n${md.slice(next + 1)}`}`;
    // The summary table: its gateway rows replaced, or added at its end.
    const lines = text.split("\n").filter(l => !/^\| (GET|SET) P=\d+ c=\d+ --cluster: gateway:/.test(l));
    const head = lines.findIndex(l => l.startsWith("| comparison |"));
    if (head >= 0) {
        let end = head;
        while (lines[end + 1]?.startsWith("|")) end++;
        lines.splice(end + 1, 0, ...gatewaySummaryRows(rows).map(r => `| ${r.join(" | ")} |`));
    }
    text = lines.join("\n");
    return text;
}

if (require.main === module) {
    const scope = new Scope();
    const subnets = (process.argv.length >= 4 ? process.argv.slice(2, 4) : ["172.25.242.0/24", "172.25.243.0/24"]) as [string, string];
    const t0 = Date.now();
    benchGateway(scope, subnets, s => console.log(s))
        .then(rows => {
            const results = path.join(__dirname, "results.md");
            fs.writeFileSync(results, spliceResults(fs.readFileSync(results, "utf8"), rows));
            console.log(
                `\n${gatewaySection(rows)}\nload average ${os
                    .loadavg()
                    .map(l => l.toFixed(1))
                    .join(" ")}, ${((Date.now() - t0) / 1000).toFixed(0)} s; wrote ${results}`,
            );
        })
        .catch(e => {
            console.error(e);
            process.exitCode = 1;
        })
        .finally(() => cleanupScope(scope));
}
