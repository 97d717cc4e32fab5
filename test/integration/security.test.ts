// Security properties that need a real network and a real TLS stack: the minimum TLS version, certificate
// rotation that keeps the data, and internal networks with no route out. Each has a control that shows the
// check would fail if the property were gone.
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import { Cluster } from "ioredis";
import * as tls from "tls";
import { converge } from "../../components/cluster/converge";
import { renderRedisConf } from "../../components/redis/conf";
import * as wire from "../../components/redis/wire";
import { aclFor, nodeFiles, redisCommand, Scope, testCluster, testPki, testUsers } from "./harness";

jest.setTimeout(120_000);

/** The TLS version a handshake settled on, or the error that ended it. The client itself allows 1.0-1.3. */
function handshake(host: string, port: number, version: tls.SecureVersion): Promise<string> {
    return new Promise(resolve => {
        const s = tls.connect({ host, port, rejectUnauthorized: false, minVersion: version, maxVersion: version, ciphers: "DEFAULT@SECLEVEL=0" },
            () => { resolve(s.getProtocol() ?? "none"); s.end(); });
        s.on("error", e => resolve(`refused: ${e.message}`));
    });
}

/** The SHA-256 fingerprint of the certificate a TLS port serves. */
function servedFingerprint(host: string, port: number): Promise<string> {
    return new Promise((resolve, reject) => {
        const s = tls.connect({ host, port, rejectUnauthorized: false }, () => { resolve(s.getPeerCertificate().fingerprint256); s.end(); });
        s.on("error", reject);
    });
}

describe("TLS and network hardening on real containers", () => {
    const scope = new Scope();
    const pw = testUsers();
    const pki = testPki(scope.dir);
    const app = { username: "app", password: pw.app };
    const admin = { username: "admin", password: pw.admin };
    const A = { name: "itsec-a", ip: "172.25.15.10", host: "172.25.15.10", port: 6380 };
    const B = { name: "itsec-b", ip: "172.25.15.11", host: "172.25.15.11", port: 6380 };
    const tlsOnly = (replicaOf?: typeof A) => renderRedisConf({
        port: 0, tls: { port: 6380, mutual: false },
        replicaOf: replicaOf && { host: replicaOf.ip, port: replicaOf.port, tls: true },
        replicationUser: replicaOf && { name: "replication", password: pw.replication },
    });
    const startA = (cert: { cert: string; key: string }) => scope.container(A.name, {
        network: "itsec-net", ip: A.ip, volume: "itsec-a-data", command: redisCommand,
        files: nodeFiles(tlsOnly(), aclFor(pw), { ca: pki.ca, ...cert }),
    });
    const certA1 = pki.issue(A.name, "peer", [A.name], [A.ip]);

    beforeAll(async () => {
        scope.network("itsec-net", "172.25.15.0/24", { internal: true });
        scope.volume("itsec-a-data");
        startA(certA1);
        scope.container(B.name, {
            network: "itsec-net", ip: B.ip, command: redisCommand,
            files: nodeFiles(tlsOnly(A), aclFor(pw), { ca: pki.ca, ...pki.issue(B.name, "peer", [B.name], [B.ip]) }),
        });
        await wire.waitUntil("B to link to A over TLS", async () => {
            try {
                return await wire.withClient(B, { auth: admin, tls: { ca: pki.ca }, connectTimeoutMs: 1000 },
                    async c => (await wire.info(c, "replication")).master_link_status === "up");
            } catch { return false; }
        }, 30_000, 200);
    });
    afterAll(() => scope.cleanup());

    test("minimum TLS 1.2: TLS 1.0 and 1.1 are refused, 1.2 and 1.3 accepted", async () => {
        expect(await handshake(A.ip, A.port, "TLSv1")).toMatch(/^refused/);
        expect(await handshake(A.ip, A.port, "TLSv1.1")).toMatch(/^refused/);
        expect(await handshake(A.ip, A.port, "TLSv1.2")).toBe("TLSv1.2");
        expect(await handshake(A.ip, A.port, "TLSv1.3")).toBe("TLSv1.3");
    });

    test("control: the same client does TLS 1.1 with a server that allows it", async () => {
        const conf = tlsOnly().replace('tls-protocols "TLSv1.2 TLSv1.3"', 'tls-protocols "TLSv1.1 TLSv1.2"') + "tls-ciphers DEFAULT@SECLEVEL=0\n";
        scope.container("itsec-weak", {
            network: "itsec-net", ip: "172.25.15.30", command: redisCommand,
            files: nodeFiles(conf, aclFor(pw), { ca: pki.ca, ...pki.issue("itsec-weak", "server", [], ["172.25.15.30"]) }),
        });
        await wire.waitUntil("the weak node to listen", async () => !(await handshake("172.25.15.30", 6380, "TLSv1.2")).startsWith("refused"), 10_000, 100);
        expect(await handshake("172.25.15.30", 6380, "TLSv1.1")).toBe("TLSv1.1");
    });

    test("certificate rotation: a new certificate on the same volume keeps every key, and the replica follows", async () => {
        const keys = Array.from({ length: 200 }, (_, i) => `rot:${i}`);
        await wire.withClient(A, { auth: app, tls: { ca: pki.ca } }, async c => {
            for (const k of keys) await c.set(k, k);
        });
        expect(await servedFingerprint(A.ip, A.port)).toBe(new crypto.X509Certificate(certA1.cert).fingerprint256);

        // What the Docker provider does when a renewed certificate changes a node's uploads: stop (SIGTERM, Redis
        // saves), remove, and create the replacement with the new files on the same data volume.
        execFileSync("docker", ["stop", "-t", "10", A.name]);
        execFileSync("docker", ["rm", A.name]);
        const certA2 = pki.issue(A.name, "peer", [A.name], [A.ip]);
        startA(certA2);

        await wire.waitUntil("A to serve again", async () => {
            try { return await wire.withClient(A, { auth: app, tls: { ca: pki.ca }, connectTimeoutMs: 1000 }, async c => (await c.ping()) === "PONG"); }
            catch { return false; }
        }, 30_000, 100);
        expect(await servedFingerprint(A.ip, A.port)).toBe(new crypto.X509Certificate(certA2.cert).fingerprint256);
        await wire.withClient(A, { auth: app, tls: { ca: pki.ca } }, async c => {
            expect(await c.mget(...keys)).toEqual(keys);
            await c.set("rot:after", "yes");
        });
        await wire.withClient(B, { auth: app, tls: { ca: pki.ca } }, async c => {
            await wire.waitUntil("B to get a write made after the rotation", async () => (await c.get("rot:after")) === "yes", 30_000);
            expect(await c.mget(...keys)).toEqual(keys);
        });
    });

    describe("internal networks: node traffic has no route out", () => {
        // A stand-in for "outside": a listener in its own network namespace, routed through the host.
        const ns = "rst-sec-outside";
        const OUTSIDE = "10.231.200.2";
        let listener: ChildProcess;
        const ip = (...a: string[]) => execFileSync("ip", a, { stdio: "pipe" });

        beforeAll(async () => {
            spawnSync("ip", ["netns", "del", ns]);
            ip("netns", "add", ns);
            ip("link", "add", "rst-sec0", "type", "veth", "peer", "name", "rst-sec1");
            ip("link", "set", "rst-sec1", "netns", ns);
            ip("addr", "add", "10.231.200.1/30", "dev", "rst-sec0");
            ip("link", "set", "rst-sec0", "up");
            ip("netns", "exec", ns, "ip", "addr", "add", `${OUTSIDE}/30`, "dev", "rst-sec1");
            ip("netns", "exec", ns, "ip", "link", "set", "rst-sec1", "up");
            ip("netns", "exec", ns, "ip", "route", "add", "default", "via", "10.231.200.1");
            listener = spawn("ip", ["netns", "exec", ns, process.execPath, "-e",
                `require("net").createServer(s => s.end("outside\\n")).listen(7777, "${OUTSIDE}")`], { stdio: "ignore" });
            scope.network("itsec-open-net", "172.25.16.0/24");
            scope.container("itsec-open", { network: "itsec-open-net", command: ["sleep", "infinity"] });
            await wire.waitUntil("the outside listener", async () => reach("itsec-open") === "outside", 10_000, 200);
        });
        afterAll(() => {
            listener?.kill();
            spawnSync("ip", ["netns", "del", ns]);
        });

        const reach = (container: string) => spawnSync("docker", ["exec", container, "timeout", "3", "bash", "-c",
            `exec 3<>/dev/tcp/${OUTSIDE}/7777 && cat <&3`], { encoding: "utf8" }).stdout.trim();

        test("control: a container on an ordinary network reaches the outside listener", () => {
            expect(reach("itsec-open")).toBe("outside");
        });

        test("a node on the internal network does not", () => {
            expect(reach(A.name)).toBe("");
        });
    });
});

describe("certificate renewal of a whole cluster: every node replaced at once on its volume", () => {
    const scope = new Scope();
    const fx = testCluster(scope, "itrn", "172.25.17.0/24", 3, 1, { volumes: true });
    const on = <T>(n: { ip: string; port: number }, f: (c: Awaited<ReturnType<typeof wire.connect>>) => Promise<T>) =>
        wire.withClient({ host: n.ip, port: n.port }, { auth: fx.admin, tls: fx.tls, connectTimeoutMs: 1000 }, f);
    beforeAll(async () => {
        fx.start();
        await converge({ nodes: fx.nodes, auth: fx.admin, tls: fx.tls });
    });
    afterAll(() => scope.cleanup());

    test("the cluster comes back by itself in its planned roles, serving the new certificates and every acknowledged key", async () => {
        const masters = fx.plan.filter(n => n.role === "master");
        const keys = Array.from({ length: 300 }, (_, i) => `renew:${i}`);
        const app = new Cluster(masters.map(n => ({ host: n.ip, port: n.port })), {
            redisOptions: { username: "app", password: fx.pw.app, tls: { ca: fx.tls.ca, cert: fx.tls.cert, key: fx.tls.key }, enableReadyCheck: false },
            enableReadyCheck: false,
        });
        try {
            for (const k of keys) await app.set(k, k);
            for (const m of app.nodes("master")) expect(Number(await m.call("WAIT", "1", "5000"))).toBe(1);
        } finally {
            app.disconnect();
        }

        const t0 = Date.now();
        const certs = await fx.renewAll();
        // No converge: Redis rejoins from nodes.conf on the volume, each node at its fixed address.
        await wire.waitUntil("the renewed cluster to agree on one slot map with cluster_state:ok", async () => {
            try {
                const views = await Promise.all(fx.plan.map(n => on(n, async c => [await wire.clusterInfo(c), await wire.clusterNodes(c)] as const)));
                return views.every(([info]) => info.cluster_state === "ok") && views.every(([, nodes]) => nodes.every(v => !v.flags.some(f => /fail|handshake|noaddr/.test(f))));
            } catch { return false; }
        }, 60_000, 200);
        console.log(`whole-cluster renewal: ${Date.now() - t0} ms from the first stop to cluster_state:ok everywhere`);

        for (const n of fx.plan) {
            expect([n.name, await servedFingerprint(n.ip, n.port)]).toEqual([n.name, new crypto.X509Certificate(certs.get(n.name)!).fingerprint256]);
            const me = (await on(n, wire.clusterNodes)).find(v => v.flags.includes("myself"))!;
            expect([n.name, me.flags.includes("master") ? "master" : "replica"]).toEqual([n.name, n.role]);
        }
        const read = new Cluster(masters.map(n => ({ host: n.ip, port: n.port })), {
            redisOptions: { username: "app", password: fx.pw.app, tls: { ca: fx.tls.ca, cert: fx.tls.cert, key: fx.tls.key }, enableReadyCheck: false },
            enableReadyCheck: false,
        });
        try {
            expect(await Promise.all(keys.map(k => read.get(k)))).toEqual(keys);
        } finally {
            read.disconnect();
        }
        expect((await converge({ nodes: fx.nodes, auth: fx.admin, tls: fx.tls })).actions).toEqual([]);
    });
});
