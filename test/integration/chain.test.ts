// The seed topology on real containers: A (plain) -> B (plain + TLS) -> C (TLS only, port 0, tls-replication).
import { planChain } from "../../components/replication/plan";
import { renderRedisConf } from "../../components/redis/conf";
import * as wire from "../../components/redis/wire";
import { aclFor, expectNoSecrets, nodeFiles, pemBody, redisCommand, Scope, testPki, testUsers } from "./harness";

jest.setTimeout(120_000);

describe("ReplicationChain on real redis-server containers", () => {
    const scope = new Scope();
    const pw = testUsers();
    const plan = planChain({ name: "itchain", hops: ["plain", "tls"], headListener: "plain", plainPort: 6379, tlsPort: 6380, subnet: "172.25.10.0/24" });
    const pki = testPki(scope.dir);
    const app = { username: "app", password: pw.app };
    let clientTls: wire.TlsMaterial;
    const nodeKeys: string[] = [];

    beforeAll(() => {
        const net = scope.network("itchain-net", "172.25.10.0/24", { internal: true });
        const acl = aclFor(pw);
        for (const n of plan) {
            const cert = pki.issue(n.name, "peer", [n.name, "localhost"], [n.ip, "127.0.0.1"]);
            nodeKeys.push(cert.key);
            const conf = renderRedisConf({
                port: n.plainPort,
                tls: n.tlsPort ? { port: n.tlsPort, mutual: false } : undefined,
                replicaOf: n.replicaOf && { host: n.replicaOf.ip, port: n.replicaOf.port, tls: n.replicaOf.tls },
                replicationUser: n.replicaOf && { name: "replication", password: pw.replication },
            });
            scope.container(n.name, { network: net, ip: n.ip, command: redisCommand, files: nodeFiles(conf, acl, { ca: pki.ca, ...cert }) });
        }
        clientTls = { ca: pki.ca };
    });
    afterAll(() => scope.cleanup());

    test("plan matches the seed: A plain, B plain+TLS, C TLS only", () => {
        expect(plan.map(n => [n.plainPort, n.tlsPort])).toEqual([[6379, 0], [6379, 6380], [0, 6380]]);
        expect(plan[2].replicaOf).toMatchObject({ name: "itchain-b", port: 6380, tls: true });
    });

    test("a write on A (plain) is readable on C (TLS only)", async () => {
        const [a, , c] = plan;
        const key = `k-${Date.now()}`;
        await wire.withClient({ host: a.ip, port: a.plainPort }, { auth: app }, cl => cl.set(key, "from-A"));
        await wire.withClient({ host: c.ip, port: c.tlsPort }, { auth: app, tls: clientTls }, async cl => {
            await wire.waitUntil("C to have the key", async () => (await cl.get(key)) === "from-A", 30_000);
            await expect(cl.info("replication")).rejects.toThrow(/NOPERM/);
        });
        await wire.withClient({ host: c.ip, port: c.tlsPort }, { auth: { username: "admin", password: pw.admin }, tls: clientTls }, async cl => {
            const repl = await wire.info(cl, "replication");
            expect(repl.role).toBe("slave");
            expect(repl.master_host).toBe(plan[1].ip);
            expect(repl.master_port).toBe("6380");
            expect(repl.master_link_status).toBe("up");
        });
    });

    test("C accepts no plaintext connection (port 0)", async () => {
        const c = plan[2];
        await expect(wire.connect({ host: c.ip, port: 6379 }, { auth: app, connectTimeoutMs: 1000 })).rejects.toThrow(/cannot reach Redis/);
        // Plaintext on the TLS port is not Redis either: the handshake never completes.
        await expect(wire.withClient({ host: c.ip, port: c.tlsPort }, { auth: app, connectTimeoutMs: 1500 }, cl => cl.ping())).rejects.toThrow();
    });

    test("a replica with a wrong replication password never links", async () => {
        const a = plan[0];
        const conf = renderRedisConf({ port: 6379, replicaOf: { host: a.ip, port: a.plainPort, tls: false }, replicationUser: { name: "replication", password: "not-the-password-at-all" } });
        scope.container("itchain-x", { network: "itchain-net", ip: "172.25.10.30", command: redisCommand, files: nodeFiles(conf, aclFor(pw)) });
        const adminAuth = { auth: { username: "admin", password: pw.admin } };
        await new Promise(r => setTimeout(r, 3000));
        await wire.waitUntil("the rogue replica to answer", () => wire.withClient({ host: "172.25.10.30", port: 6379 }, adminAuth, async c =>
            expect((await wire.info(c, "replication")).master_link_status).toBe("down") === undefined), 10_000, 200);
        await wire.withClient({ host: a.ip, port: a.plainPort }, adminAuth, async c => {
            expect((await wire.info(c, "replication")).connected_slaves).toBe("1"); // only B
        });
    });

    test("no password -> NOAUTH; the default user is off", async () => {
        const a = plan[0];
        await expect(wire.withClient({ host: a.ip, port: a.plainPort }, {}, cl => cl.get("x"))).rejects.toThrow(/NOAUTH/);
    });

    test("no node logged a password or its private key (including the rogue replica's failed auth)", () => {
        const logs = scope.logs();
        expect(logs).toMatch(/Ready to accept connections/); // the logs were read
        expectNoSecrets(logs, { ...pw, ...Object.fromEntries(nodeKeys.map((k, i) => [`key${i}`, pemBody(k)])) });
    });
});
