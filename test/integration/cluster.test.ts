// RedisCluster (components/cluster) deployed through the real engine and the tls/random/docker plugins, in the two
// shapes users deploy on one engine: the default (TLS-only, no client certificates, the default node timeout) and
// mutual TLS. One stack holds both; every check runs against what the component made: its containers, uploads,
// networks, certificates, generated users and the ClusterBootstrap it wired after its containers.
import { Stack } from "@pulumi/pulumi/automation";
import { spawnSync } from "child_process";
import * as tls from "tls";
import { converge } from "../../components/cluster/converge";
import { CONF_DIR, MASTERAUTH_FILE, memoryLimitMb, TLS_DIR } from "../../components/redis/conf";
import * as wire from "../../components/redis/wire";
import { clusterStack, DeployedCluster, plainOutputs } from "./deploy";
import { expectNoSecrets, pemBody, Scope, testPki } from "./harness";

jest.setTimeout(300_000);
const MAXMEMORY = "64mb";

describe("RedisCluster on the real engine: the default cluster and a mutual-TLS one (3 masters x 1 replica, one engine)", () => {
    const scope = new Scope();
    // One local engine: "hard" anti-affinity would refuse a master and its replica on one host.
    const clusters = {
        itcl: { subnet: "172.25.51.0/24", antiAffinity: "soft" as const },
        itclm: { subnet: "172.25.52.0/24", antiAffinity: "soft" as const, mutualTls: true, maxmemory: MAXMEMORY },
    };
    let stack: Stack;
    let def: DeployedCluster, mtls: DeployedCluster;
    const log: string[] = [];
    const onOutput = (s: string) => {
        log.push(s);
    };

    beforeAll(async () => {
        stack = await clusterStack(scope, "itcl", clusters);
    });
    afterAll(async () => {
        await stack?.destroy({ onOutput });
        scope.cleanup();
    });

    test("up from empty gives two healthy 3+3 clusters in their planned roles and slots, with no drift", async () => {
        const r = await stack.up({ onOutput });
        const out = plainOutputs(r.outputs);
        [def, mtls] = [new DeployedCluster(out, "itcl"), new DeployedCluster(out, "itclm")];
        for (const c of [def, mtls]) {
            expect(c.plan).toHaveLength(6);
            expect(Object.keys(out[c.name].nodeIds).sort()).toEqual(c.plan.map(n => n.name).sort());
            expect(out[c.name].drift).toEqual([]);
            await c.expectPlannedRoles();
            await c.on(c.plan[0], async cl => {
                const byIp = new Map((await wire.clusterNodes(cl)).map(v => [v.ip, v]));
                expect(c.masters.map(n => byIp.get(n.ip)!.slots)).toEqual([[[0, 5460]], [[5461, 10922]], [[10923, 16383]]]);
            });
        }
        // The default shape really is the default: node timeout 5000 ms, no client certificates asked for.
        await def.on(def.plan[0], async cl => {
            expect(await cl.call("CONFIG", "GET", "cluster-node-timeout")).toEqual(["cluster-node-timeout", "5000"]);
            expect(await cl.call("CONFIG", "GET", "tls-auth-clients")).toEqual(["tls-auth-clients", "no"]);
        });
        await mtls.on(mtls.plan[0], async cl =>
            expect(await cl.call("CONFIG", "GET", "tls-auth-clients")).toEqual(["tls-auth-clients", "yes"]),
        );
    });

    test("a re-run changes nothing: a preview expects no changes and a second up leaves every resource as it was", async () => {
        await stack.preview({ expectNoChanges: true, onOutput });
        const r = await stack.up({ onOutput });
        expect(Object.keys(r.summary.resourceChanges ?? {})).toEqual(["same"]);
        for (const c of [def, mtls]) expect((await converge(c.target)).actions).toEqual([]);
    });

    test("the app user's cluster client (connect() from the outputs) SETs and GETs through MOVED redirects; FLUSHALL is denied", async () => {
        // The default cluster takes a client with the CA only; the mutual-TLS one gets the client certificate too.
        for (const [c, tls] of [
            [def, { ca: def.target.tls!.ca }],
            [mtls, mtls.target.tls!],
        ] as const) {
            await c.withApp(
                async app => {
                    for (let i = 0; i < 50; i++) await app.set(`key:${i}`, String(i));
                    for (let i = 0; i < 50; i++) expect(await app.get(`key:${i}`)).toBe(String(i));
                    // The keys really spread over every master (so the client followed redirects).
                    expect(
                        new Set(
                            await Promise.all(
                                Array.from({ length: 50 }, (_, i) =>
                                    app.cluster("KEYSLOT", `key:${i}`).then(s => c.masters.findIndex(m => Number(s) <= m.slots![1])),
                                ),
                            ),
                        ).size,
                    ).toBe(3);
                    await expect(app.call("FLUSHALL")).rejects.toThrow(
                        /^NOPERM this user has no permissions to run the 'flushall' command$/,
                    );
                },
                { tls },
            );
        }
    });

    test("every node container is locked down: redis as redis with no capability, read-only root, no privilege gain, a memory limit from maxmemory, rotated logs", () => {
        // The mutual-TLS cluster sets maxmemory; the default one does not, so it gets no limit.
        for (const [n, memory] of [
            ...def.plan.map(n => [n, 0] as const),
            ...mtls.plan.map(n => [n, memoryLimitMb(MAXMEMORY)! * 2 ** 20] as const),
        ]) {
            const hc = JSON.parse(def.docker(n, "inspect", "-f", "{{json .HostConfig}}", n.name));
            expect([n.name, hc.CapDrop, hc.CapAdd, hc.ReadonlyRootfs, hc.SecurityOpt, hc.Memory, hc.LogConfig]).toEqual([
                n.name,
                ["ALL"],
                null,
                true,
                ["no-new-privileges:true"],
                memory,
                { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } },
            ]);
            // The start script (PID 1) and redis-server run as redis (uid 100 in the image) and hold no capability.
            const status = def.docker(
                n,
                "exec",
                n.name,
                "sh",
                "-c",
                "for p in 1 $(grep -l '^redis-server$' /proc/[0-9]*/comm | cut -d/ -f3); do echo $(cat /proc/$p/comm) $(grep -E '^(Uid|CapPrm|CapEff)' /proc/$p/status); done",
            );
            expect(status.split("\n").sort()).toEqual([
                "redis-server Uid: 100 100 100 100 CapPrm: 0000000000000000 CapEff: 0000000000000000",
                "sh Uid: 100 100 100 100 CapPrm: 0000000000000000 CapEff: 0000000000000000",
            ]);
            // Nothing outside /data and /tmp is writable, not even by root (the image, and its config on a read-only volume).
            for (const [user, path] of [
                ["redis", "/usr/local/x"],
                ["root", "/etc/x"],
                ["redis", `${CONF_DIR}/x`],
                ["root", `${CONF_DIR}/x`],
            ]) {
                expect([user, path, def.docker(n, "exec", "-u", user, n.name, "sh", "-c", `touch ${path} 2>&1; echo $?`)]).toEqual([
                    user,
                    path,
                    `touch: cannot touch '${path}': Read-only file system\n1`,
                ]);
            }
            expect(def.docker(n, "exec", n.name, "sh", "-c", "touch /data/x /tmp/x && rm /data/x /tmp/x && echo writable")).toBe(
                "writable",
            );
        }
    });

    test("redis-cli --cluster check, run inside a node's container, passes on both", () => {
        def.expectCheckPasses();
        mtls.expectCheckPasses();
    });

    test("mutual TLS: a client without a certificate is refused, and one from another CA too; the default cluster takes the first", async () => {
        const ca = mtls.target.tls!.ca;
        const [m, d] = [
            { host: mtls.plan[0].ip, port: mtls.plan[0].port },
            { host: def.plan[0].ip, port: def.plan[0].port },
        ];
        const ping = (to: wire.Endpoint, o: wire.ConnectOptions) => wire.withClient(to, { ...o, connectTimeoutMs: 1500 }, cl => cl.ping());
        // TLS 1.3: the server checks the client's certificate after the handshake and drops the connection; its log says why.
        const log = () => {
            const r = spawnSync("docker", ["logs", mtls.plan[0].name], { encoding: "utf8" });
            return r.stdout + r.stderr;
        };
        const count = (text: string, what: string) => text.split(what).length - 1;
        const before = log();
        // The client sees the server's alert, or a reset when the server closes before the alert is read (a race).
        const refused = (alert: string) =>
            new RegExp(
                `^cannot reach Redis at 172\\.25\\.52\\.10:6379 \\(TLS\\): ((write|read) ECONNRESET|\\S+:error:\\S+:SSL routines:ssl3_read_bytes:${alert}:\\S+:SSL alert number \\d+\\s*)$`,
            );
        await expect(ping(m, { auth: mtls.target.auth, tls: { ca } })).rejects.toThrow(refused("tlsv13 alert certificate required"));
        const intruder = testPki(scope.dir, "other-ca").issue("intruder", "client", [], []);
        await expect(ping(m, { auth: mtls.target.auth, tls: { ca, ...intruder } })).rejects.toThrow(refused("tlsv1 alert unknown ca"));
        const after = log();
        expect(count(after, "peer did not return a certificate") - count(before, "peer did not return a certificate")).toBe(1);
        expect(count(after, "certificate verify failed") - count(before, "certificate verify failed")).toBe(1);
        // Controls: the same certificate-less client is served by the default cluster, and the client certificate here.
        expect(await ping(d, { auth: def.target.auth, tls: { ca: def.target.tls!.ca } })).toBe("PONG");
        expect(await ping(m, { auth: mtls.target.auth, tls: mtls.target.tls })).toBe("PONG");
    });

    test("cluster bus: the default cluster exports no client certificate, so its outputs open no bus port; mutual TLS's does", async () => {
        // The bus takes any certificate of the cluster's CA (Redis always asks bus peers for one). TLS 1.3 completes
        // the client's side of the handshake before the server checks, so "refused" is the server's alert, not a timeout.
        const bus = (n: { ip: string; busPort: number }, m: wire.TlsMaterial) =>
            new Promise<string>(resolve => {
                const s = tls.connect({ host: n.ip, port: n.busPort, ca: m.ca, cert: m.cert, key: m.key });
                s.on("error", e => resolve((e as NodeJS.ErrnoException).code ?? e.message));
                setTimeout(() => {
                    resolve(s.authorized ? "open" : "unverified");
                    s.destroy();
                }, 2000);
            });
        const out = plainOutputs(await stack.outputs());
        expect(Object.keys(out.itcl)).not.toContain("clientKeyPem");
        expect(Object.keys(out.itcl)).not.toContain("clientCertPem");
        for (const n of def.plan) expect(await bus(n, { ca: out.itcl.caCertPem })).toBe("ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED");
        // The residual risk with mutual TLS (README, Security): its client certificate is of the same CA, so a holder
        // who can route to a node's bus port opens it. Keep applications off the nodes' network.
        expect(await bus(mtls.plan[0], mtls.target.tls!)).toBe("open");
    });

    test("heals: a killed master fails over, and converge restores the planned roles with no acknowledged write lost", async () => {
        const [m0, r0] = [def.plan[0], def.replicaOf(def.plan[0])];
        const keys: string[] = [];
        await def.on(m0, async c => {
            for (let i = 0; keys.length < 100; i++)
                if (Number(await c.call("CLUSTER", "KEYSLOT", `w:${i}`)) <= m0.slots![1]) keys.push(`w:${i}`);
            for (const k of keys) await c.set(k, k);
            expect(Number(await c.call("WAIT", "1", "5000"))).toBe(1); // acknowledged by the replica
        });
        def.docker(m0, "kill", m0.name);
        await def.on(r0, c =>
            wire.waitUntil("the replica to be promoted", async () => (await wire.info(c, "replication")).role === "master", 30_000, 100),
        );
        def.docker(m0, "start", m0.name);
        // Connect inside the poll: the restarted container takes a moment to listen again.
        await wire.waitUntil(
            "the old master to rejoin as a replica",
            () => def.on(m0, async c => (await wire.info(c, "replication")).master_link_status === "up"),
            30_000,
            100,
        );

        const healed = await converge(def.target);
        expect(healed.actions).toContain(`${m0.name}: CLUSTER FAILOVER (back to master)`);
        await def.expectPlannedRoles();
        await def.on(m0, async c => {
            for (const k of keys) expect(await c.get(k)).toBe(k);
        });
        expect((await converge(def.target)).actions).toEqual([]);
    });

    test("a wrong address gives a clear error naming the node", async () => {
        // A direct converge call: the component derives every address from its plan, so it cannot be handed a wrong
        // one; this is what the bootstrap meets when a node's address stops answering (an engine gone, a moved node).
        const nodes = def.target.nodes.map((n, i) => (i === 2 ? { ...n, ip: "172.25.51.250" } : n));
        await expect(converge({ ...def.target, nodes, timeoutMs: 3000 })).rejects.toThrow(
            /^cluster node itcl-m2 does not answer at 172\.25\.51\.250:6379 \(cannot reach Redis at 172\.25\.51\.250:6379 \(TLS\): /,
        );
    });

    test("no node log and nothing the engine printed holds a password or a private key", () => {
        const logs = scope.logs();
        expect(logs).toMatch(/Cluster state changed: ok/); // the logs were read
        expect(log.join("")).toContain("ClusterBootstrap"); // and so was the engine's output
        for (const c of [def, mtls]) {
            const n = c.plan[0];
            const replication = c.docker(n, "exec", n.name, "sed", "-n", "s/^masterauth //p", MASTERAUTH_FILE);
            const nodeKey = pemBody(c.docker(n, "exec", n.name, "cat", `${TLS_DIR}/node.key`));
            const clientKey: Record<string, string> = c.target.tls!.key ? { clientKey: pemBody(c.target.tls!.key) } : {};
            expectNoSecrets(logs + log.join(""), {
                admin: c.target.auth.password,
                app: c.app.password,
                replication,
                nodeKey,
                ...clientKey,
            });
        }
    });
});
