// The cluster bootstrap's dynamic provider, called directly (mocks never run it) against 6 real, TLS-only,
// ACL-protected redis-server containers laid out by planCluster().
import { Cluster } from "ioredis";
import { clusterBootstrapProvider } from "../../components/cluster/bootstrap";
import { converge } from "../../components/cluster/converge";
import { TLS_DIR } from "../../components/redis/conf";
import * as wire from "../../components/redis/wire";
import { docker, expectNoSecrets, pemBody, Scope, testCluster, testPki } from "./harness";

jest.setTimeout(180_000);

describe("ClusterBootstrap on 6 real redis-server containers (3 masters x 1 replica, TLS-only)", () => {
    const scope = new Scope();
    const { pw, admin, plan, pki, client, tls, nodes, start } = testCluster(scope, "itcl", "172.25.12.0/24");
    const props = () => ({
        clusterName: "itcl",
        nodes,
        auth: admin,
        tls,
    });

    beforeAll(start);
    afterAll(() => scope.cleanup());

    test("create on 6 fresh nodes gives a healthy 3+3 cluster", async () => {
        const t0 = Date.now();
        const r = await clusterBootstrapProvider.create!(props());
        const ms = Date.now() - t0;
        console.log(`bootstrap of 3+3 TLS cluster: ${ms} ms`);
        expect(Object.keys(r.outs.nodeIds)).toHaveLength(6);
        for (const n of plan) {
            await wire.withClient({ host: n.ip, port: n.port }, { auth: admin, tls }, async c => {
                expect((await wire.clusterInfo(c)).cluster_state).toBe("ok");
                const repl = await wire.info(c, "replication");
                expect(repl.role).toBe(n.role === "master" ? "master" : "slave");
                if (n.role === "replica") {
                    const master = plan.find(m => m.name === n.masterName)!;
                    expect(repl.master_host).toBe(master.ip);
                    expect(repl.master_link_status).toBe("up");
                }
            });
        }
    });

    test("a master and its replica are different nodes with the planned slots", async () => {
        await wire.withClient({ host: plan[0].ip, port: plan[0].port }, { auth: admin, tls }, async c => {
            const view = await wire.clusterNodes(c);
            const byIp = new Map(view.map(v => [v.ip, v]));
            expect(plan.filter(n => n.role === "master").map(n => byIp.get(n.ip)!.slots)).toEqual([[[0, 5460]], [[5461, 10922]], [[10923, 16383]]]);
        });
    });

    test("create again is a no-op", async () => {
        const r = await converge({ nodes: props().nodes, auth: admin, tls });
        expect(r.actions).toEqual([]);
        const d = await clusterBootstrapProvider.diff!("itcl", props(), props());
        expect(d.changes).toBe(false);
    });

    test("the cluster serves SET/GET through MOVED redirects, as the app user", async () => {
        const cluster = new Cluster(plan.filter(n => n.role === "master").map(n => ({ host: n.ip, port: n.port })), {
            redisOptions: { username: "app", password: pw.app, tls: { ca: pki.ca, cert: client.cert, key: client.key }, enableReadyCheck: false },
            enableReadyCheck: false,
        });
        try {
            for (let i = 0; i < 50; i++) await cluster.set(`key:${i}`, String(i));
            for (let i = 0; i < 50; i++) expect(await cluster.get(`key:${i}`)).toBe(String(i));
            await expect(cluster.call("FLUSHALL")).rejects.toThrow(/NOPERM/);
        } finally {
            cluster.disconnect();
        }
    });

    test("redis-cli --cluster check passes", () => {
        const n = plan[0];
        const out = docker("exec", "-e", `REDISCLI_AUTH=${pw.admin}`, n.name, "redis-cli", "--tls", "--cacert", `${TLS_DIR}/ca.crt`,
            "--cert", `${TLS_DIR}/node.crt`, "--key", `${TLS_DIR}/node.key`, "--user", "admin", "--cluster", "check", `${n.ip}:${n.port}`);
        expect(out).toContain("[OK] All 16384 slots covered.");
        expect(out).toContain("[OK] All nodes agree about slots configuration.");
    });

    test("a client without a certificate is refused (mutual TLS)", async () => {
        await expect(wire.withClient({ host: plan[0].ip, port: plan[0].port }, { auth: admin, tls: { ca: pki.ca }, connectTimeoutMs: 1500 }, c => c.ping())).rejects.toThrow();
    });

    test("heals: a killed master fails over, and the next converge restores the planned roles with no acknowledged write lost", async () => {
        const [m0, r0] = [plan[0], plan.find(n => n.masterName === plan[0].name)!];
        const on = <T>(n: typeof m0, f: (c: Awaited<ReturnType<typeof wire.connect>>) => Promise<T>) => wire.withClient({ host: n.ip, port: n.port }, { auth: admin, tls }, f);
        const keys: string[] = [];
        await on(m0, async c => {
            for (let i = 0; keys.length < 100; i++) if (Number(await c.call("CLUSTER", "KEYSLOT", `w:${i}`)) <= m0.slots![1]) keys.push(`w:${i}`);
            for (const k of keys) await c.set(k, k);
            expect(Number(await c.call("WAIT", "1", "5000"))).toBe(1); // acknowledged by the replica
        });
        docker("kill", m0.name);
        await on(r0, c => wire.waitUntil("the replica to be promoted", async () => (await wire.info(c, "replication")).role === "master", 30_000, 100));
        docker("start", m0.name);
        // Connect inside the poll: the restarted container takes a moment to listen again.
        await wire.waitUntil("the old master to rejoin as a replica", () => on(m0, async c => (await wire.info(c, "replication")).master_link_status === "up"), 30_000, 100);

        const healed = await converge({ nodes: props().nodes, auth: admin, tls });
        expect(healed.actions).toContain(`${m0.name}: CLUSTER FAILOVER (back to master)`);
        await on(m0, async c => {
            expect((await wire.info(c, "replication")).role).toBe("master");
            for (const k of keys) expect(await c.get(k)).toBe(k);
        });
        await on(r0, async c => expect((await wire.info(c, "replication")).master_host).toBe(m0.ip));
        expect((await converge({ nodes: props().nodes, auth: admin, tls })).actions).toEqual([]);
    });

    test("a client certificate from another CA is refused (mutual TLS)", async () => {
        const other = testPki(scope.dir, "other-ca").issue("intruder", "client", [], []);
        const ok = await wire.withClient({ host: plan[0].ip, port: plan[0].port }, { auth: admin, tls: { ca: pki.ca, ...other }, connectTimeoutMs: 1500 }, c => c.ping())
            .then(() => true, () => false);
        expect(ok).toBe(false);
    });

    test("a wrong address gives a clear error naming the node", async () => {
        const nodes = props().nodes.map((n, i) => (i === 2 ? { ...n, ip: "172.25.12.250" } : n));
        await expect(converge({ nodes, auth: admin, tls, timeoutMs: 3000 })).rejects.toThrow(/cluster node itcl-m2 does not answer at 172\.25\.12\.250:6379 \(cannot reach Redis/);
    });

    test("no node logged a password or the client key (after failovers and refused clients)", () => {
        const logs = scope.logs();
        expect(logs).toMatch(/Cluster state changed: ok/); // the logs were read
        expectNoSecrets(logs, { ...pw, clientKey: pemBody(client.key) });
    });
});
