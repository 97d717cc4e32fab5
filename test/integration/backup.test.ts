// `redis-secure-topologies backup` and `restore` (components/backup, components/guard/cli.ts) as child processes, as
// an operator runs them, against a RedisCluster 3 x 1 and a TLS ReplicationChain deployed through the real engine and
// plugins (one stack), and a single hand-built node: 10,000 keys across the slot range backed up, the stack destroyed
// and re-created (new node ids, new passwords, empty), restored: every key, value and expiry (PEXPIRETIME, to the
// millisecond) back on its planned master, replicas in sync, `redis-cli --cluster check` clean. A corrupt file and a
// shape mismatch are refused with nothing changed.
import type { Stack } from "@pulumi/pulumi/automation";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { MANIFEST_FILE, parseManifest, renderSums, sha256, SUMS_FILE } from "../../components/backup/manifest";
import { clusterOutputs, RedisCluster } from "../../components/cluster";
import { renderRedisConf } from "../../components/redis/conf";
import { ReplicationChain } from "../../components/replication";
import * as wire from "../../components/redis/wire";
import { DeployedCluster, plainOutputs, stateSecrets, tearDown, testStack } from "./deploy";
import { aclFor, expectNoSecrets, nodeFiles, redisCommand, runCli, Scope, testUsers } from "./harness";

jest.setTimeout(600_000);

const NAME = "itopb";
// 172.25.92-93 are metrics.test.ts's too: the two suites run one after the other (npm test runs jest --runInBand).
const SUBNETS = { cluster: "172.25.94.0/24", chain: "172.25.92.0/24", single: "172.25.93.0/24" };
const KEYS = 10_000;

type Client = Awaited<ReturnType<typeof wire.connect>>;
interface Snapshot {
    value: string;
    expireAt: number;
}

describe("backup and restore of whole topologies", () => {
    const scope = new Scope();
    let stack: Stack | undefined;
    let out: Record<string, any>;
    let cluster: DeployedCluster;
    let secrets: Record<string, string> = {};
    const outputsFile = path.join(scope.dir, "outputs.json");
    const dirs = {
        cluster: path.join(scope.dir, "bk-cluster"),
        chain: path.join(scope.dir, "bk-chain"),
        single: path.join(scope.dir, "bk-single"),
    };
    const before = { cluster: new Map<string, Snapshot>(), chain: new Map<string, Snapshot>() };

    const program = () =>
        testStack(scope, NAME, async () => {
            const c = new RedisCluster(NAME, { antiAffinity: "soft", subnet: SUBNETS.cluster, nodeTimeoutMs: 3000 });
            const ch = new ReplicationChain(`${NAME}-ch`, { hops: ["tls"], subnet: SUBNETS.chain });
            return {
                [NAME]: clusterOutputs(c),
                chain: {
                    nodes: ch.nodes,
                    caCertPem: ch.caCertPem,
                    clientCertPem: ch.clientCertPem,
                    clientKeyPem: ch.clientKeyPem,
                    adminUser: ch.adminUser,
                },
            };
        });
    const deploy = async () => {
        out = plainOutputs((await stack!.up()).outputs);
        cluster = new DeployedCluster(out, NAME);
        fs.writeFileSync(outputsFile, JSON.stringify(out), { mode: 0o600 });
        secrets = { ...secrets, ...(await stateSecrets(stack!)) };
    };
    const cli = async (...args: string[]) => {
        const r = await runCli([...args, "--outputs", outputsFile]);
        expectNoSecrets(r.out, secrets);
        return r;
    };
    const chainHead = (c: (cl: Client) => Promise<unknown>) =>
        wire.withClient(
            { host: out.chain.nodes[0].ip, port: out.chain.nodes[0].tlsPort },
            { auth: out.chain.adminUser, tls: { ca: out.chain.caCertPem, cert: out.chain.clientCertPem, key: out.chain.clientKeyPem } },
            c,
        );
    /** Every key of `c` (a node nobody writes to) with its value (strings; other types by TYPE) and PEXPIRETIME. */
    const snapshot = async (c: Client, into: Map<string, Snapshot>) => {
        let cursor = "0";
        do {
            const [next, keys] = await c.scan(cursor, "COUNT", 1000);
            cursor = next;
            // One key per command: on a cluster node a multi-key command must stay in one slot.
            const p = c.pipeline();
            for (const k of keys) p.type(k).call("PEXPIRETIME", k);
            const r = (await p.exec())!.map(([e, v]) => {
                if (e) throw e;
                return v;
            });
            const g = c.pipeline();
            for (const [i, k] of keys.entries()) if (r[2 * i] === "string") g.get(k);
            const values = (await g.exec())!.map(([e, v]) => {
                if (e) throw e;
                return String(v);
            });
            let at = 0;
            keys.forEach((k, i) =>
                into.set(k, { value: r[2 * i] === "string" ? values[at++] : `(${r[2 * i]})`, expireAt: Number(r[2 * i + 1]) }),
            );
        } while (cursor !== "0");
    };
    const masterSnapshot = async () => {
        const all = new Map<string, Snapshot>();
        for (const m of cluster.masters) await cluster.on(m, c => snapshot(c, all));
        return all;
    };
    const dbsizes = () => Promise.all(cluster.plan.map(n => cluster.on(n, c => c.dbsize())));

    const single = { name: `${NAME}-single`, ip: "172.25.93.10", pw: testUsers() };
    beforeAll(async () => {
        // The single node first, so that tearDown always finds it to remove.
        scope.container(single.name, {
            network: scope.network(`${NAME}-single-net`, SUBNETS.single),
            ip: single.ip,
            command: redisCommand,
            files: nodeFiles(renderRedisConf({ port: 6379 }), aclFor(single.pw)),
        });
        stack = await program();
        await deploy();
    }, 600_000);
    afterAll(() => tearDown(scope, stack, [`${NAME}-single`]), 180_000);

    test("10,000 keys across the slot range (a third with an expiry, a few hashes and sorted sets) and a chain's keys", async () => {
        await cluster.withApp(async c => {
            for (let i = 0; i < KEYS; i += 1000) {
                await Promise.all(
                    Array.from({ length: 1000 }, (_, j) => i + j).map(k =>
                        k % 3 === 0
                            ? c.set(`k:${k}`, `v${k}`, "PX", 3_600_000 + k)
                            : k % 97 === 1
                              ? c.hset(`k:${k}`, "f", `v${k}`)
                              : k % 89 === 2
                                ? c.zadd(`k:${k}`, k, `m${k}`)
                                : c.set(`k:${k}`, `v${k}`),
                    ),
                );
            }
        });
        await chainHead(async c => {
            for (let i = 0; i < 200; i++) await (i % 2 ? c.set(`c:${i}`, `cv${i}`, "EX", 7200) : c.set(`c:${i}`, `cv${i}`));
        });
        before.cluster = await masterSnapshot();
        await chainHead(c => snapshot(c, before.chain));
        expect(before.cluster.size).toBe(KEYS);
        expect([...before.cluster.values()].filter(s => s.expireAt > 0)).toHaveLength(Math.ceil(KEYS / 3));
        expect(before.chain.size).toBe(200);
        // Keys on every master, over thousands of slots.
        const perMaster = await Promise.all(cluster.masters.map(m => cluster.on(m, c => c.dbsize())));
        expect(perMaster.every(n => n > 3000)).toBe(true);
        const slots = await cluster.on(
            cluster.masters[0],
            async c => new Set(await Promise.all([...before.cluster.keys()].slice(0, 3000).map(k => c.call("CLUSTER", "KEYSLOT", k)))),
        );
        expect(slots.size).toBeGreaterThan(2000);
    });

    test("backup of the cluster and the chain: one RDB per master, the slot map, the plan, a manifest and SHA256SUMS, 0600 in a 0700 folder", async () => {
        const c = await cli("backup", "--output", NAME, "--to", dirs.cluster);
        expect(c.code).toBe(0);
        expect(c.out).toContain(`[3/3] ${NAME}-m2: ${NAME}-m2.rdb`);
        const ch = await cli("backup", "--output", "chain", "--to", dirs.chain);
        expect([ch.code, ch.out]).toEqual([0, expect.stringContaining(`[1/1] ${NAME}-ch-a: BGSAVE`)]);
        const m = parseManifest(fs.readFileSync(path.join(dirs.cluster, MANIFEST_FILE), "utf8"));
        expect(m.masters).toEqual([
            { name: `${NAME}-m0`, slots: [[0, 5460]], file: `${NAME}-m0.rdb` },
            { name: `${NAME}-m1`, slots: [[5461, 10922]], file: `${NAME}-m1.rdb` },
            { name: `${NAME}-m2`, slots: [[10923, 16383]], file: `${NAME}-m2.rdb` },
        ]);
        expect(fs.readdirSync(dirs.cluster).sort()).toEqual(
            [SUMS_FILE, "cluster-nodes.txt", `${NAME}-m0.rdb`, `${NAME}-m1.rdb`, `${NAME}-m2.rdb`, MANIFEST_FILE, "plan.json"].sort(),
        );
        expect(fs.statSync(dirs.cluster).mode & 0o777).toBe(0o700);
        for (const f of fs.readdirSync(dirs.cluster)) expect([f, fs.statSync(path.join(dirs.cluster, f)).mode & 0o777]).toEqual([f, 0o600]);
        // The sums are sha256sum's: the standard tool checks them.
        const checked = execFileSync("sha256sum", ["-c", SUMS_FILE], { cwd: dirs.cluster, encoding: "utf8" }).trim().split("\n");
        expect([checked.length, checked.every(l => l.endsWith(": OK"))]).toEqual([6, true]);
        expect(fs.readFileSync(path.join(dirs.cluster, "cluster-nodes.txt"), "utf8")).toContain("myself,master");
        // No secret in any file of the backup but the data itself.
        for (const f of fs.readdirSync(dirs.cluster)) expectNoSecrets(fs.readFileSync(path.join(dirs.cluster, f), "latin1"), secrets);
    });

    test("the stack destroyed and re-created: empty, with new passwords and node ids", async () => {
        const ids = out[NAME].nodeIds;
        const admin = out[NAME].adminUser.password;
        await stack!.destroy();
        await deploy();
        expect(out[NAME].nodeIds).not.toEqual(ids);
        expect(out[NAME].adminUser.password).not.toBe(admin);
        expect(await dbsizes()).toEqual([0, 0, 0, 0, 0, 0]);
    });

    test("refused before anything changes: a corrupt RDB, a backup of another number of masters, a backup of another kind", async () => {
        const corrupt = path.join(scope.dir, "bk-corrupt");
        fs.cpSync(dirs.cluster, corrupt, { recursive: true });
        const rdb = path.join(corrupt, `${NAME}-m1.rdb`);
        const bytes = fs.readFileSync(rdb);
        bytes[Math.floor(bytes.length / 2)] ^= 0xff;
        fs.writeFileSync(rdb, bytes);
        const r1 = await cli("restore", "--output", NAME, "--from", corrupt);
        expect([r1.code, r1.out]).toEqual([1, expect.stringContaining(`${NAME}-m1.rdb is corrupt: its SHA-256 is`)]);
        expect(r1.out).toContain("nothing was changed");

        // A well-formed backup of two masters (its manifest and sums rewritten consistently) into three.
        const two = path.join(scope.dir, "bk-two");
        fs.cpSync(dirs.cluster, two, { recursive: true });
        const m = parseManifest(fs.readFileSync(path.join(two, MANIFEST_FILE), "utf8"));
        m.masters = m.masters.slice(0, 2);
        delete m.files[`${NAME}-m2.rdb`];
        fs.rmSync(path.join(two, `${NAME}-m2.rdb`));
        fs.writeFileSync(path.join(two, MANIFEST_FILE), JSON.stringify(m));
        fs.writeFileSync(
            path.join(two, SUMS_FILE),
            renderSums(
                Object.fromEntries(
                    fs
                        .readdirSync(two)
                        .filter(f => f !== SUMS_FILE)
                        .map(f => [f, sha256(fs.readFileSync(path.join(two, f)))]),
                ),
            ),
        );
        const r2 = await cli("restore", "--output", NAME, "--from", two);
        expect([r2.code, r2.out]).toEqual([
            1,
            expect.stringContaining("the backup has 2 masters, the target has 3: restore needs the same number of masters"),
        ]);

        const r3 = await cli("restore", "--output", NAME, "--from", dirs.chain);
        expect([r3.code, r3.out]).toEqual([
            1,
            expect.stringContaining("the backup is of a standalone topology, the target is a cluster one"),
        ]);
        expect(await dbsizes()).toEqual([0, 0, 0, 0, 0, 0]);
        // No throwaway reader left behind.
        expect(execFileSync("docker", ["ps", "-aq", "--filter", "name=rst-restore-"], { encoding: "utf8" }).trim()).toBe("");
    });

    test("restore: every key, value and expiry back on its planned master, replicas in sync, --cluster check clean", async () => {
        const r = await cli("restore", "--output", NAME, "--from", dirs.cluster);
        expect([r.code, r.out]).toEqual([0, expect.stringContaining(`restore: ${KEYS} keys`)]);
        const after = await masterSnapshot();
        expect(after.size).toBe(KEYS);
        const differ = [...before.cluster].filter(([k, s]) => JSON.stringify(after.get(k)) !== JSON.stringify(s));
        expect(differ).toEqual([]);
        // The restore waited for the replicas: each holds as many keys as its master right away.
        const sizes = await dbsizes();
        const byName = Object.fromEntries(cluster.plan.map((n, i) => [n.name, sizes[i]]));
        expect(byName[`${NAME}-m0-r0`]).toBe(byName[`${NAME}-m0`]);
        await cluster.expectPlannedRoles();
        cluster.expectCheckPasses();
        // A second restore finds keys there and refuses.
        const again = await cli("restore", "--output", NAME, "--from", dirs.cluster);
        expect([again.code, again.out]).toEqual([
            1,
            expect.stringMatching(/holds \d+ key\(s\); restore into an empty target, or give --replace/),
        ]);
    });

    test("the chain: restored into its head, every key and expiry back, the replica in sync", async () => {
        const r = await cli("restore", "--output", "chain", "--from", dirs.chain);
        expect([r.code, r.out]).toEqual([0, expect.stringContaining("restore: 200 keys")]);
        const after = new Map<string, Snapshot>();
        await chainHead(c => snapshot(c, after));
        expect(after).toEqual(before.chain);
        const b = out.chain.nodes[1];
        const replica = await wire.withClient(
            { host: b.ip, port: b.tlsPort },
            { auth: out.chain.adminUser, tls: { ca: out.chain.caCertPem, cert: out.chain.clientCertPem, key: out.chain.clientKeyPem } },
            c => c.dbsize(),
        );
        expect(replica).toBe(200);
    });

    test("a single node: backup, FLUSHALL, restore, keys in two databases back", async () => {
        const outputs = {
            nodes: [{ name: single.name, ip: single.ip, port: 6379 }],
            adminUser: { username: "admin", password: single.pw.admin },
        };
        const file = path.join(scope.dir, "single.json");
        fs.writeFileSync(file, JSON.stringify({ single: outputs }), { mode: 0o600 });
        const on = (f: (c: Client) => Promise<unknown>) => wire.withClient({ host: single.ip, port: 6379 }, { auth: outputs.adminUser }, f);
        await wire.waitUntil("the single node", () => on(c => c.ping()).then(() => true), 10_000);
        await on(async c => {
            for (let i = 0; i < 100; i++) await c.set(`s:${i}`, `${i}`, "EX", 3600);
            await c.select(5);
            await c.set("in-db-5", "x");
        });
        const b = await runCli(["backup", "--outputs", file, "--output", "single", "--to", dirs.single]);
        expect(b.code).toBe(0);
        await on(c => c.flushall());
        const r = await runCli(["restore", "--outputs", file, "--output", "single", "--from", dirs.single]);
        expect([r.code, r.out]).toEqual([0, expect.stringContaining("restore: 101 keys")]);
        await on(async c => {
            expect(await c.dbsize()).toBe(100);
            expect(await c.ttl("s:7")).toBeGreaterThan(3500);
            await c.select(5);
            expect(await c.get("in-db-5")).toBe("x");
        });
    });
});
