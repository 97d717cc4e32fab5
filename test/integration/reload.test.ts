// TlsReload's provider methods run directly against real redis-server containers (a TLS master and its replica,
// hand-built, mutual TLS): what it records at create, a renewal (same CA) and a CA rotation (trust first, then
// roll), each with the replica's link sampled throughout, and its diff once nothing changed. The component's
// rotation through the engine is rotation-certs.test.ts.
import * as crypto from "crypto";
import * as fs from "fs";
import { renderRedisConf, TLS_DIR } from "../../components/redis/conf";
import { ReloadNode, tlsReloadProvider } from "../../components/redis/reload";
import * as wire from "../../components/redis/wire";
import { aclFor, docker, nodeFiles, redisCommand, Scope, testPki, testUsers } from "./harness";

jest.setTimeout(120_000);

const SUBNET = "172.25.72.0/24";
const [A, B] = [
    { name: "itcrr-a", ip: "172.25.72.10" },
    { name: "itcrr-b", ip: "172.25.72.11" },
];
const PORT = 6380;

describe("TlsReload on live nodes", () => {
    const scope = new Scope();
    const pw = testUsers();
    const auth = { username: "admin", password: pw.admin };
    const pki1 = testPki(scope.dir, "itcrr-ca1");
    const pki2 = testPki(scope.dir, "itcrr-ca2");
    const issue = (pki: typeof pki1, n: typeof A) => pki.issue(n.name, "peer", [n.name], [n.ip]);
    /** Puts a versioned TLS directory into a running node, as its writer would. */
    const deliver = (n: typeof A, dir: string, f: { ca: string; cert: string; key: string }) => {
        const stage = `${scope.dir}/${n.name}-${dir}`;
        fs.mkdirSync(stage, { recursive: true });
        for (const [file, content] of Object.entries({ "ca.crt": f.ca, "node.crt": f.cert, "node.key": f.key }))
            fs.writeFileSync(`${stage}/${file}`, content);
        docker("cp", stage, `${n.name}:${TLS_DIR}/${dir}`);
        return `${TLS_DIR}/${dir}`;
    };
    const nodes = (dirs: string[], certs: string[]): ReloadNode[] =>
        [A, B].map((n, i) => ({
            name: n.name,
            host: n.ip,
            port: PORT,
            dir: dirs[i],
            certPem: certs[i],
            replica: i === 1,
            cluster: false,
        }));
    const link = { samples: 0, down: 0 };

    beforeAll(() => {
        scope.network("itcrr-net", SUBNET);
        const certs = [issue(pki1, A), issue(pki1, B)];
        [A, B].forEach((n, i) => {
            const conf = renderRedisConf({
                port: 0,
                tls: { port: PORT, mutual: true },
                replicationUser: { name: "replication", password: pw.replication },
                replicaOf: i === 1 ? { host: A.ip, port: PORT, tls: true } : undefined,
            });
            scope.container(n.name, {
                network: "itcrr-net",
                ip: n.ip,
                command: redisCommand,
                files: nodeFiles(conf, aclFor(pw), { ca: pki1.ca, ...certs[i] }),
            });
            deliver(n, "v1", { ca: pki1.ca, ...certs[i] });
        });
        (globalThis as any).certs1 = certs;
    });
    afterAll(() => scope.cleanup());

    /** Runs `f` while a sampler reads B's link on one connection opened before (with the first CA and client cert). */
    async function sampling<T>(tls: wire.TlsMaterial, f: () => Promise<T>): Promise<T> {
        const c = await wire.connect({ host: B.ip, port: PORT }, { auth, tls });
        let on = true;
        const s = (async () => {
            while (on) {
                link.samples++;
                if ((await wire.info(c, "replication")).master_link_status !== "up") link.down++;
                await new Promise(r => setTimeout(r, 20));
            }
        })();
        try {
            return await f();
        } finally {
            on = false;
            await s;
            await wire.close(c);
        }
    }

    test("create records what each node serves; a renewal and a CA rotation reload both nodes in place, the replica's link never down", async () => {
        const c1 = pki1.issue("itcrr-client", "client", [], []);
        const certs1: { cert: string }[] = (globalThis as any).certs1;
        const tls1 = { ca: pki1.ca, ...c1 };
        await wire.waitUntil(
            "B to link to A",
            async () =>
                wire.withClient(
                    { host: B.ip, port: PORT },
                    { auth, tls: tls1 },
                    async c => (await wire.info(c, "replication")).master_link_status === "up",
                ),
            30_000,
            100,
        );
        const p0 = {
            topology: "itcrr",
            nodes: nodes(
                ["/etc/redis-secure/tls/v1", "/etc/redis-secure/tls/v1"],
                certs1.map(c => c.cert),
            ),
            caPem: pki1.ca,
            auth,
            client: c1,
            written: [],
        };
        const created = (await tlsReloadProvider.create!(p0)).outs;
        const fp = (pem: string) => new crypto.X509Certificate(pem).fingerprint256;
        expect(Object.values(created.served).map((s: any) => s.fingerprint)).toEqual(certs1.map(c => fp(c.cert)));
        expect((await tlsReloadProvider.diff!("itcrr", created, p0)).changes).toBe(false);

        // Renewal: new certificates of the same CA, in a new directory.
        const certs2 = [issue(pki1, A), issue(pki1, B)];
        const dirs2 = [deliver(A, "v2", { ca: pki1.ca, ...certs2[0] }), deliver(B, "v2", { ca: pki1.ca, ...certs2[1] })];
        const p1 = {
            ...p0,
            nodes: nodes(
                dirs2,
                certs2.map(c => c.cert),
            ),
        };
        expect((await tlsReloadProvider.diff!("itcrr", created, p1)).changes).toBe(true);
        const renewed = (await sampling(tls1, () => tlsReloadProvider.update!("itcrr", created, p1))).outs!;
        for (const [i, n] of [A, B].entries())
            expect(await wire.servedFingerprint({ host: n.ip, port: PORT }, tls1)).toBe(fp(certs2[i].cert));
        expect((await tlsReloadProvider.diff!("itcrr", renewed, p1)).changes).toBe(false);

        // CA rotation: the bundle first on both, then certificates (and the client's) of the new CA.
        const bundle = pki2.ca + pki1.ca;
        const c2 = pki2.issue("itcrr-client", "client", [], []);
        const certs3 = [issue(pki2, A), issue(pki2, B)];
        const dirs3 = [deliver(A, "v3", { ca: bundle, ...certs3[0] }), deliver(B, "v3", { ca: bundle, ...certs3[1] })];
        const p2 = {
            ...p0,
            caPem: bundle,
            client: c2,
            nodes: nodes(
                dirs3,
                certs3.map(c => c.cert),
            ),
        };
        const rotated = (await sampling(tls1, () => tlsReloadProvider.update!("itcrr", renewed, p2))).outs!;
        const tls2 = { ca: pki2.ca, ...c2 };
        for (const [i, n] of [A, B].entries()) {
            expect(await wire.servedFingerprint({ host: n.ip, port: PORT }, tls2)).toBe(fp(certs3[i].cert));
            expect(rotated.served[n.name].ca).toHaveLength(2);
        }
        // The old client certificate is still trusted (the bundle), and a new replication link works with the new
        // certificates: B resyncs from A after a CLIENT KILL of its link.
        await wire.withClient({ host: A.ip, port: PORT }, { auth, tls: { ...tls1, ca: bundle } }, async c => {
            await c.call("CLIENT", "KILL", "TYPE", "replica");
        });
        await wire.waitUntil(
            "B to link to A again over the new certificates",
            async () =>
                wire.withClient(
                    { host: B.ip, port: PORT },
                    { auth, tls: tls2 },
                    async c => (await wire.info(c, "replication")).master_link_status === "up",
                ),
            30_000,
            100,
        );
        expect((await tlsReloadProvider.diff!("itcrr", rotated, p2)).changes).toBe(false);
        console.log(`TlsReload on live nodes: replica link samples ${link.samples}, down ${link.down}`);
        expect(link.samples).toBeGreaterThan(5);
        expect(link.down).toBe(0);
    });
});
