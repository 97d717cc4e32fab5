// The Prometheus exporter (components/metrics) of a RedisCluster 3 x 1 and of the default ReplicationChain (A plain ->
// B -> C over TLS), deployed through the real engine and plugins in one stack: /metrics answers, redis_up 1 for every
// node through /scrape?target=, the cluster's metrics are there, published on 127.0.0.1 only, the `metrics` user
// runs nothing it is not allowed (the nodes' ACL LOG stays empty after scrapes) and is denied writes, keys and CONFIG.
import type { Stack } from "@pulumi/pulumi/automation";
import { clusterOutputs, RedisCluster } from "../../components/cluster";
import { ReplicationChain } from "../../components/replication";
import * as wire from "../../components/redis/wire";
import { plainOutputs, stateOf, stateSecrets, tearDown, testStack } from "./deploy";
import { docker, expectNoSecrets, freePort, Scope } from "./harness";

jest.setTimeout(300_000);

const NAME = "itopm";
// 172.25.92-93 are backup.test.ts's too: the two suites run one after the other (npm test runs jest --runInBand).
const SUBNETS = { cluster: "172.25.90.0/24", chain: "172.25.91.0/24", clusterMetrics: "172.25.92.0/24", chainMetrics: "172.25.93.0/24" };

interface MetricsOut {
    endpoint: string;
    scrapeUrls: Record<string, string>;
}

async function scrape(url: string): Promise<string> {
    const r = await fetch(url);
    expect(r.status).toBe(200);
    return r.text();
}
/** The value of a metric's first sample (`redis_up 1`, `redis_master_link_up{master_host=...} 1`), or undefined. */
const sample = (text: string, metric: string) => {
    const m = new RegExp(`^${metric}(\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
    return m ? Number(m[2]) : undefined;
};

describe("metrics exporters deployed through the engine", () => {
    const scope = new Scope();
    let stack: Stack | undefined;
    let out: Record<string, any>;
    let metricsPassword: string;
    let secrets: Record<string, string>;
    const node = (topology: "cluster" | "chain", name: string) => out[topology].nodes.find((n: { name: string }) => n.name === name);
    const adminOn = <T>(topology: "cluster" | "chain", n: any, f: (c: Awaited<ReturnType<typeof wire.connect>>) => Promise<T>) =>
        topology === "cluster"
            ? wire.withClient({ host: n.ip, port: n.port }, { auth: out.cluster.adminUser, tls: { ca: out.cluster.caCertPem } }, f)
            : wire.withClient(
                  { host: n.ip, port: n.tlsPort || n.plainPort },
                  { auth: out.chain.adminUser, tls: n.tlsPort ? { ca: out.chain.caCertPem } : undefined },
                  f,
              );

    beforeAll(async () => {
        const ports = { cluster: await freePort(), chain: await freePort() };
        stack = await testStack(scope, NAME, async () => {
            const cluster = new RedisCluster(NAME, {
                antiAffinity: "soft",
                subnet: SUBNETS.cluster,
                metrics: { listenPort: ports.cluster, subnet: SUBNETS.clusterMetrics },
            });
            const chain = new ReplicationChain(`${NAME}-ch`, {
                subnet: SUBNETS.chain,
                metrics: { listenPort: ports.chain, subnet: SUBNETS.chainMetrics },
            });
            return {
                cluster: clusterOutputs(cluster),
                chain: { nodes: chain.nodes, caCertPem: chain.caCertPem, adminUser: chain.adminUser, metrics: chain.metrics },
            };
        });
        out = plainOutputs((await stack.up()).outputs);
        metricsPassword = (await stateOf(stack, `${NAME}-users-metrics`)).outputs.result;
        secrets = await stateSecrets(stack);
    });
    afterAll(() => tearDown(scope, stack), 120_000);

    test("the outputs: /metrics and one scrape URL per node, on loopback", () => {
        const c: MetricsOut = out.cluster.metrics;
        expect(c.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
        expect(Object.keys(c.scrapeUrls).sort()).toEqual(out.cluster.nodes.map((n: { name: string }) => n.name).sort());
        const a = node("cluster", `${NAME}-m0`);
        expect(c.scrapeUrls[a.name]).toBe(
            c.endpoint.replace(/\/metrics$/, `/scrape?target=${encodeURIComponent(`rediss://${a.ip}:${a.port}`)}`),
        );
        // The chain's head listens in plain text only (the seed layout); B and C are scraped over TLS.
        expect(Object.values(out.chain.metrics.scrapeUrls).map(u => decodeURIComponent(String(u)).split("target=")[1])).toEqual([
            "redis://172.25.91.10:6379",
            "rediss://172.25.91.11:6380",
            "rediss://172.25.91.12:6380",
        ]);
    });

    test("published on 127.0.0.1 only; the exporter runs as its own user, no capability, read-only root, no secret in argv", () => {
        for (const name of [`${NAME}-metrics`, `${NAME}-ch-metrics`]) {
            const c = JSON.parse(docker("inspect", name))[0];
            const bindings = Object.values(c.HostConfig.PortBindings).flat() as { HostIp: string }[];
            expect(bindings.map(b => b.HostIp)).toEqual(["127.0.0.1"]);
            expect([c.Config.User, c.HostConfig.ReadonlyRootfs, c.HostConfig.CapDrop]).toEqual(["prometheus:prometheus", true, ["ALL"]]);
            expect(JSON.stringify([c.Args, c.Config.Env])).not.toContain(metricsPassword);
            expectNoSecrets(JSON.stringify([c.Args, c.Config.Env]), secrets);
        }
    });

    test("/metrics answers with redis_up 1 (the first node)", async () => {
        for (const t of ["cluster", "chain"]) expect(sample(await scrape(out[t].metrics.endpoint), "redis_up")).toBe(1);
    });

    test("every node scraped over its listener: redis_up 1; the cluster's state and slots, the chain's links", async () => {
        for (const [name, url] of Object.entries<string>(out.cluster.metrics.scrapeUrls)) {
            const text = await scrape(url);
            expect([
                name,
                sample(text, "redis_up"),
                sample(text, "redis_cluster_state"),
                sample(text, "redis_cluster_slots_assigned"),
                sample(text, "redis_cluster_known_nodes"),
            ]).toEqual([name, 1, 1, 16384, 6]);
        }
        const chain = await Promise.all(Object.values<string>(out.chain.metrics.scrapeUrls).map(scrape));
        expect(chain.map(t => sample(t, "redis_up"))).toEqual([1, 1, 1]);
        expect(chain.map(t => sample(t, "redis_connected_slaves"))).toEqual([1, 1, 0]);
        expect(chain.slice(1).map(t => sample(t, "redis_master_link_up"))).toEqual([1, 1]);
    });

    test("the metrics user ran nothing it may not (ACL LOG empty after the scrapes) and may not write, read keys or CONFIG", async () => {
        for (const [t, n] of [
            ["cluster", node("cluster", `${NAME}-m0`)],
            ["cluster", node("cluster", `${NAME}-m0-r0`)],
            ["chain", out.chain.nodes[0]],
            ["chain", out.chain.nodes[2]],
        ] as const) {
            const log = await adminOn(t, n, c => c.call("ACL", "LOG") as Promise<unknown[]>);
            expect([n.name, log]).toEqual([n.name, []]);
        }
        const m0 = node("cluster", `${NAME}-m0`);
        await wire.withClient(
            { host: m0.ip, port: m0.port },
            { auth: { username: "metrics", password: metricsPassword }, tls: { ca: out.cluster.caCertPem } },
            async c => {
                expect(await c.info("server")).toContain("redis_version:7.0.15");
                await expect(c.set("{a}k", "v")).rejects.toThrow(/NOPERM/);
                await expect(c.get("{a}k")).rejects.toThrow(/NOPERM/);
                await expect(c.call("CONFIG", "GET", "masterauth")).rejects.toThrow(/NOPERM/);
                await expect(c.call("FLUSHALL")).rejects.toThrow(/NOPERM/);
            },
        );
        const denied = await adminOn("cluster", m0, c => c.call("ACL", "LOG") as Promise<unknown[][]>);
        expect(denied.map(e => [e[e.indexOf("username") + 1], e[e.indexOf("object") + 1]])).toEqual([
            ["metrics", "flushall"],
            ["metrics", "config|get"],
            ["metrics", "get"],
            ["metrics", "set"],
        ]);
    });

    test("no change on a second preview; nothing secret in the exporters' logs", async () => {
        await stack!.preview({ expectNoChanges: true });
        for (const name of [`${NAME}-metrics`, `${NAME}-ch-metrics`]) expectNoSecrets(docker("logs", name), secrets);
    });
});
