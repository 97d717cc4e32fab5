// The cluster bootstrap's dynamic provider, called directly (mocks never run it) against 6 real, TLS-only,
// ACL-protected redis-server containers laid out by planCluster().
import { Cluster } from "ioredis";
import { clusterBootstrapProvider } from "../../components/cluster/bootstrap";
import { converge } from "../../components/cluster/converge";
import { planCluster } from "../../components/cluster/plan";
import { TLS_DIR } from "../../components/redis/conf";
import * as wire from "../../components/redis/wire";
import { docker, Scope, startClusterNodes, testPki, testUsers } from "./harness";

jest.setTimeout(180_000);

describe("ClusterBootstrap on 6 real redis-server containers (3 masters x 1 replica, TLS-only)", () => {
    const scope = new Scope();
    const pw = testUsers();
    const admin = { username: "admin", password: pw.admin };
    const plan = planCluster({ name: "itcl", masters: 3, replicasPerMaster: 1, hosts: ["local"], subnet: "172.25.12.0/24", port: 6379 });
    const pki = testPki(scope.dir);
    const client = pki.issue("itcl-client", "client", [], []);
    const tls = { ca: pki.ca, cert: client.cert, key: client.key };
    const props = () => ({
        clusterName: "itcl",
        nodes: plan.map(({ host: _h, ...n }) => n),
        auth: admin,
        tls,
    });

    beforeAll(() => startClusterNodes(scope, plan, "172.25.12.0/24", pw, pki));
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

    test("a wrong address gives a clear error naming the node", async () => {
        const nodes = props().nodes.map((n, i) => (i === 2 ? { ...n, ip: "172.25.12.250" } : n));
        await expect(converge({ nodes, auth: admin, tls, timeoutMs: 3000 })).rejects.toThrow(/cluster node itcl-m2: cannot reach Redis at 172\.25\.12\.250:6379/);
    });
});
