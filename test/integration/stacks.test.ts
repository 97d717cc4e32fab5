// The project's own Pulumi.yaml and stacks/ on the real engine with the real tls/random/docker plugins:
// up from empty, outputs that connect, no perpetual diff, a maxmemory change that keeps data, no secret in
// the stored state, destroy leaving nothing behind. Needs the three resource plugins; where
// scripts/toolchain.sh could not provide them the suite is reported as skipped, naming them.
import * as fs from "fs";
import * as path from "path";
import { openStack, projectCopy, toolchain } from "../../scripts/stack";
import * as wire from "../../components/redis/wire";
import { docker, Scope } from "./harness";

jest.setTimeout(900_000);
const { missingPlugins } = toolchain();
const suite = missingPlugins.length ? describe.skip : describe;
if (missingPlugins.length) console.warn(`SKIPPED stack tests: resource plugins not installed: ${missingPlugins.join(", ")}`);

suite("the dev stack on the real engine and plugins", () => {
    const scope = new Scope();
    let stack: Awaited<ReturnType<typeof openStack>>;
    let out: Record<string, any>;
    const backend = path.join(scope.dir, "state");

    beforeAll(async () => {
        stack = await openStack("itstack", backend, projectCopy(scope.dir));
        await stack.setAllConfig({
            "redis-secure-topologies:chainSubnet": { value: "172.25.40.0/24" },
            "redis-secure-topologies:clusterSubnet": { value: "172.25.41.0/24" },
            "redis-secure-topologies:tunnelSubnet": { value: "172.25.42.0/24" },
            "redis-secure-topologies:tunnelListenPort": { value: "16390" },
            "redis-secure-topologies:maxmemory": { value: "64mb" },
        });
    });
    afterAll(async () => { await stack.destroy().catch(() => undefined); scope.cleanup(); });

    test("up from empty; the outputs connect", async () => {
        const r = await stack.up();
        out = Object.fromEntries(Object.entries(r.outputs).map(([k, v]) => [k, v.value]));
        const app = out.chain.appUser;
        const [a, , c] = out.chain.nodes;
        await wire.withClient({ host: a.ip, port: a.plainPort }, { auth: app }, cl => cl.set("stack:k", "v"));
        await wire.withClient({ host: c.ip, port: c.tlsPort }, { auth: app, tls: { ca: out.chain.caCertPem } }, cl =>
            wire.waitUntil("C to replicate", async () => (await cl.get("stack:k")) === "v", 30_000));
        await wire.withClient({ host: out.tunnel.host, port: out.tunnel.port }, { auth: app }, async cl => expect(await cl.get("stack:k")).toBe("v"));
        const tls = { ca: out.cluster.caCertPem, cert: out.cluster.clientCertPem, key: out.cluster.clientKeyPem };
        for (const n of out.cluster.nodes) {
            await wire.withClient({ host: n.ip, port: n.port }, { auth: out.cluster.adminUser, tls }, async cl => {
                expect((await wire.clusterInfo(cl)).cluster_state).toBe("ok");
                if (n.role === "replica") expect((await wire.info(cl, "replication")).master_link_status).toBe("up");
            });
        }
    });

    test("a second preview shows no changes", async () => {
        await stack.preview({ expectNoChanges: true });
    });

    test("a maxmemory change replaces only the Redis containers and the cluster keeps its data", async () => {
        const tls = { ca: out.cluster.caCertPem, cert: out.cluster.clientCertPem, key: out.cluster.clientKeyPem };
        const m0 = out.cluster.nodes[0];
        // A key in m0's own slots, so a single-node client reads it back without a redirect.
        let key = "";
        await wire.withClient({ host: m0.ip, port: m0.port }, { auth: out.cluster.adminUser, tls }, async cl => {
            for (let i = 0; !key && i < 1000; i++) if (Number(await cl.call("CLUSTER", "KEYSLOT", `kept:${i}`)) <= m0.slots[1]) key = `kept:${i}`;
            await cl.set(key, "yes");
        });
        await stack.setConfig("redis-secure-topologies:maxmemory", { value: "96mb" });
        const r = await stack.up();
        expect(r.summary.resourceChanges?.create ?? 0).toBe(0);
        await wire.withClient({ host: m0.ip, port: m0.port }, { auth: out.cluster.adminUser, tls }, async cl => {
            await wire.waitUntil("the cluster to re-form", async () => (await wire.clusterInfo(cl)).cluster_state === "ok", 60_000);
            expect(await cl.call("CONFIG", "GET", "maxmemory")).toEqual(["maxmemory", String(96 * 1024 * 1024)]);
            expect(await cl.get(key)).toBe("yes");
        });
    });

    test("the stored state holds no secret in plain text", () => {
        const files = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap(e => e.isDirectory() ? files(path.join(d, e.name)) : [path.join(d, e.name)]);
        const stored = files(backend).map(f => fs.readFileSync(f, "utf8")).join("\n");
        for (const secret of [out.chain.appUser.password, out.cluster.adminUser.password, out.cluster.clientKeyPem.split("\n")[1]]) {
            expect(stored).not.toContain(secret);
        }
    });

    test("destroy leaves no container, network or volume behind", async () => {
        await stack.destroy();
        const names = (kind: string) => docker(kind, "ls", "--format", "{{.Name}}").split("\n");
        expect(docker("ps", "-a", "--format", "{{.Names}}").split("\n").filter(n => n.includes("itstack"))).toEqual([]);
        expect(names("network").filter(n => n.includes("itstack"))).toEqual([]);
        expect(names("volume").filter(n => n.includes("itstack"))).toEqual([]);
    });
});
