// Scaling a live TLS-only cluster with converge(): 3+1 -> 4+1 (slots and keys move to the new master), back to 3+1
// (the removed shard's slots move away before it is forgotten and reset), replicas 1 -> 2, half-migrated slots
// repaired, and a vanished node that owns slots refused. Every key written at the start must read back after each step,
// and so must every write acknowledged while slots were moving (an app client keeps writing through both scalings).
import { spawnSync } from "child_process";
import { Cluster } from "ioredis";
import { converge } from "../../components/cluster/converge";
import { PlannedNode } from "../../components/cluster/plan";
import { rangesText } from "../../components/cluster/slots";
import { TLS_DIR } from "../../components/redis/conf";
import * as wire from "../../components/redis/wire";
import { docker, Scope, testCluster } from "./harness";

jest.setTimeout(300_000);

const KEYS = Number(process.env.RST_SCALE_KEYS ?? 2000);
/** Keys whose names are not UTF-8: they must move byte for byte. */
const BINARY = 20;

/** "1-3,7" gives [1, 2, 3, 7]. */
const slotsOf = (text: string) => text.split(",").flatMap(r => {
    const [a, b = a] = r.split("-").map(Number);
    return Array.from({ length: b - a + 1 }, (_, i) => a + i);
});

describe("cluster scale out/in with slot migration on real containers (TLS-only, mutual TLS)", () => {
    const scope = new Scope();
    const fx = testCluster(scope, "itsc", "172.25.50.0/24");
    const { pw, admin, tls, planFor } = fx;
    const bootstrapNodes = (plan: PlannedNode[]) => plan.map(({ host: _host, ...n }) => n);
    const run = (plan: PlannedNode[]) => converge({ nodes: bootstrapNodes(plan), auth: admin, tls });
    const on = <T>(n: { ip: string; port: number }, f: (c: Awaited<ReturnType<typeof wire.connect>>) => Promise<T>) =>
        wire.withClient({ host: n.ip, port: n.port }, { auth: admin, tls }, f);
    const key = (i: number) => `scale:${i}`;
    const value = (i: number) => `v${i}-${"x".repeat(i % 50)}`;
    const binaryKey = (i: number) => Buffer.from([0x62, 0xff, 0xfe, 0x80 + i]);

    /** A cluster client as the app user, following MOVED/ASK. */
    async function withApp<T>(plan: PlannedNode[], f: (c: Cluster) => Promise<T>): Promise<T> {
        const cluster = new Cluster(plan.filter(n => n.role === "master").map(n => ({ host: n.ip, port: n.port })), {
            redisOptions: { username: "app", password: pw.app, tls: { ca: fx.pki.ca, cert: fx.client.cert, key: fx.client.key }, enableReadyCheck: false },
            enableReadyCheck: false,
        });
        try {
            return await f(cluster);
        } finally {
            cluster.disconnect();
        }
    }

    /**
     * Keeps writing as the app user while `during` runs: 300 keys round and round, so the first round makes new keys
     * (sent on with ASK to a node importing their slot) and later rounds rewrite keys that may sit on a migrating
     * source. Returns the last value acknowledged for each key, the writes done and any that failed.
     */
    async function writeWhile<T>(plan: PlannedNode[], during: () => Promise<T>): Promise<{ result: T; acked: Map<string, string>; writes: number; errors: string[] }> {
        return withApp(plan, async c => {
            const acked = new Map<string, string>();
            const errors: string[] = [];
            let stop = false, writes = 0;
            const writer = (async () => {
                for (let i = 0; !stop; i++) {
                    const [k, val] = [`live:${i % 300}`, `w${i}`];
                    try { await c.set(k, val); acked.set(k, val); writes++; } catch (e) { errors.push(`${k}: ${(e as Error).message}`); }
                }
            })();
            try {
                return { result: await during(), acked, writes, errors };
            } finally {
                stop = true;
                await writer;
            }
        });
    }

    /** Every acknowledged write reads back with its last value; then the live keys are deleted (later checks count keys). */
    async function expectAcked(plan: PlannedNode[], acked: Map<string, string>): Promise<void> {
        await withApp(plan, async c => {
            const keys = [...acked.keys()];
            const got = await Promise.all(keys.map(k => c.get(k)));
            expect(keys.filter((k, i) => got[i] !== acked.get(k)).map(k => `${k}: ${acked.get(k)}`)).toEqual([]);
            await Promise.all(keys.map(k => c.del(k)));
        });
    }

    async function expectEveryKey(plan: PlannedNode[]): Promise<void> {
        const values = await withApp(plan, c => Promise.all(Array.from({ length: KEYS }, (_, i) => c.get(key(i)))));
        const wrong = values.map((v, i) => [i, v] as const).filter(([i, v]) => v !== value(i));
        expect(wrong.slice(0, 5)).toEqual([]);
        const binary = await withApp(plan, c => Promise.all(Array.from({ length: BINARY }, (_, i) => c.get(binaryKey(i)))));
        expect(binary).toEqual(Array.from({ length: BINARY }, (_, i) => `b${i}`));
        // And nowhere else: the planned masters hold exactly these keys.
        const sizes = await Promise.all(plan.filter(n => n.role === "master").map(n => on(n, c => c.dbsize())));
        expect(sizes.reduce((a, b) => a + b, 0)).toBe(KEYS + BINARY);
    }

    async function expectPlannedSlots(plan: PlannedNode[]): Promise<void> {
        for (const n of plan) {
            const view = await on(n, wire.clusterNodes);
            const me = view.find(v => v.flags.includes("myself"))!;
            expect([n.name, me.openSlots]).toEqual([n.name, []]);
            if (n.role === "master") expect([n.name, me.slots]).toEqual([n.name, [n.slots]]);
        }
    }

    /** redis-cli --cluster check's report (it exits 1 when it finds errors, so the output is read either way). */
    function clusterCheck(n: PlannedNode): string {
        const r = spawnSync("docker", ["exec", "-e", `REDISCLI_AUTH=${pw.admin}`, n.name, "redis-cli", "--tls", "--cacert", `${TLS_DIR}/ca.crt`,
            "--cert", `${TLS_DIR}/node.crt`, "--key", `${TLS_DIR}/node.key`, "--user", "admin", "--cluster", "check", `${n.ip}:${n.port}`], { encoding: "utf8" });
        return r.stdout + r.stderr;
    }

    function expectCheckPasses(n: PlannedNode): void {
        const out = clusterCheck(n);
        expect(out).toContain("[OK] All nodes agree about slots configuration.");
        expect(out).toContain("[OK] All 16384 slots covered.");
        expect(out).not.toMatch(/\[(WARNING|ERR)\]/);
    }

    beforeAll(async () => {
        fx.start();
        await run(fx.plan);
        await withApp(fx.plan, async c => {
            const writes = [];
            for (let i = 0; i < KEYS; i++) writes.push(c.set(key(i), value(i)));
            for (let i = 0; i < BINARY; i++) writes.push(c.set(binaryKey(i), `b${i}`));
            await Promise.all(writes);
            // Acknowledged by each master's replica too.
            for (const m of c.nodes("master")) expect(Number(await m.call("WAIT", "1", "5000"))).toBe(1);
        });
    });
    afterAll(() => scope.cleanup());

    const p31 = planFor(3, 1), p41 = planFor(4, 1), p32 = planFor(3, 2);
    const added = (to: PlannedNode[], from: PlannedNode[]) => to.filter(n => !from.some(f => f.name === n.name));
    let removedIds: string[] = [];

    test("3+1 -> 4+1 under writes: the new master gets its planned slots with their keys; nothing is lost", async () => {
        fx.add(added(p41, p31));
        const t0 = Date.now();
        const { result: r, acked, writes, errors } = await writeWhile(p31, () => run(p41));
        const ms = Date.now() - t0;
        const moves = r.actions.filter(a => / -> /.test(a));
        const moved = moves.reduce((n, a) => n + Number(/\((\d+) keys moved\)/.exec(a)![1]), 0);
        console.log(`3+1 -> 4+1: converge took ${ms} ms, 8192 slots and ${moved} of ${KEYS + BINARY} keys moved in ${moves.length} steps, ` +
            `${writes} writes meanwhile (${errors.length} failed):\n${moves.join("\n")}`);
        expect(errors.slice(0, 5)).toEqual([]);
        expect(writes).toBeGreaterThan(300); // every live key written, most of them more than once
        await expectAcked(p41, acked);
        expect(r.actions).toContain("itsc-m3-r0: CLUSTER REPLICATE itsc-m3");
        expect(moves.map(a => a.split(":")[0])).toEqual(expect.arrayContaining(["itsc-m0 -> itsc-m1", "itsc-m1 -> itsc-m2", "itsc-m2 -> itsc-m3"]));
        expect(moved).toBeGreaterThan(KEYS / 3);
        await expectPlannedSlots(p41);
        await expectEveryKey(p41);
        const m3 = p41.find(n => n.name === "itsc-m3")!;
        expect(await on(m3, c => c.dbsize())).toBeGreaterThan(KEYS / 5);
        expectCheckPasses(p41[0]);
        expect((await run(p41)).actions).toEqual([]);
    });

    test("4+1 -> 3+1 under writes: the removed shard's slots move away first; then no planned node knows it and it is reset", async () => {
        const gone = added(p41, p31);
        removedIds = await Promise.all(gone.map(n => on(n, wire.myId)));
        const t0 = Date.now();
        const { result: r, acked, writes, errors } = await writeWhile(p41, () => run(p31));
        console.log(`4+1 -> 3+1: converge took ${Date.now() - t0} ms, ${writes} writes meanwhile (${errors.length} failed):\n${r.actions.join("\n")}`);
        expect(errors.slice(0, 5)).toEqual([]);
        await expectAcked(p31, acked);
        // The removed master (.28) hands 12288-16383 to m2, in chunks.
        const fromM3 = r.actions.filter(a => a.startsWith("172.25.50.28:6379 -> itsc-m2: slots "));
        expect(rangesText(fromM3.flatMap(a => slotsOf(a.split("slots ")[1].split(" ")[0])))).toBe("12288-16383");
        expect(r.actions).toEqual(expect.arrayContaining([
            "172.25.50.28:6379: CLUSTER RESET", "172.25.50.29:6379: CLUSTER RESET",
            ...p31.flatMap(n => removedIds.map(id => expect.stringMatching(new RegExp(`^${n.name}: CLUSTER FORGET ${id} `)))),
        ]));
        await expectEveryKey(p31);
        await expectPlannedSlots(p31);
        for (const n of p31) expect((await on(n, wire.clusterNodes)).filter(v => removedIds.includes(v.id))).toEqual([]);
        for (const n of gone) {
            await on(n, async c => {
                expect(await c.dbsize()).toBe(0);
                expect((await wire.clusterNodes(c)).map(v => v.id)).toEqual([await wire.myId(c)]);
            });
        }
        expectCheckPasses(p31[0]);
        expect((await run(p31)).actions).toEqual([]);
        // Pulumi deletes the removed containers after the update.
        docker("rm", "-f", "-v", ...gone.map(n => n.name));
        expect((await run(p31)).actions).toEqual([]);
    });

    test("a node outside the plan that vanished while owning slots is refused by name, and is scaled in once it is back", async () => {
        // A 4th master without replicas takes its slots, then its container stops. (3+1: no master has a replica to
        // spare, so Redis does not migrate one to the new master.)
        const p4 = p41.filter(n => n.name !== "itsc-m3-r0");
        const m3 = p4.find(n => n.name === "itsc-m3")!;
        fx.add([m3]);
        await run(p4);
        const m3id = await on(m3, wire.myId);
        docker("stop", m3.name);
        await expect(run(p31)).rejects.toThrow(new RegExp(`node ${m3id} \\(172\\.25\\.50\\.28:6379\\) is not in the plan, does not answer, and owns slots 12288-16383: not forgetting it`));
        // Nobody forgot it: every planned node still has it.
        for (const n of p31) expect((await on(n, wire.clusterNodes)).some(v => v.id === m3id)).toBe(true);

        docker("start", m3.name);
        await wire.waitUntil("the 4th master to answer again", () => on(m3, async c => (await c.ping()) === "PONG"), 30_000, 200);
        const r = await run(p31);
        expect(r.actions).toContain("172.25.50.28:6379: CLUSTER RESET");
        await expectEveryKey(p31);
        await expectPlannedSlots(p31);
        expectCheckPasses(p31[0]);
        docker("rm", "-f", "-v", m3.name);
    });

    test("replicas 1 -> 2: new replicas meet the cluster and follow their planned masters", async () => {
        const fresh = added(p32, p31);
        expect(fresh.map(n => n.name)).toEqual(["itsc-m0-r1", "itsc-m1-r1", "itsc-m2-r1"]);
        fx.add(fresh);
        const r = await run(p32);
        for (const n of fresh) {
            expect(r.actions).toContain(`${n.name}: CLUSTER REPLICATE ${n.masterName}`);
            expect(r.actions.some(a => a.endsWith(`CLUSTER MEET ${n.ip}:6379`))).toBe(true);
            const master = p32.find(m => m.name === n.masterName)!;
            await on(n, async c => {
                const repl = await wire.info(c, "replication");
                expect([repl.role, repl.master_host, repl.master_link_status]).toEqual(["slave", master.ip, "up"]);
                const masterKeys = await on(master, m => m.dbsize());
                await wire.waitUntil(`${n.name} to hold its master's keys`, async () => (await c.dbsize()) === masterKeys, 10_000, 100);
            });
        }
        expect(r.actions.filter(a => / -> /.test(a))).toEqual([]);
        expectCheckPasses(p32[0]);
        expect((await run(p32)).actions).toEqual([]);
    });

    test("open slots left by hand are repaired like redis-cli --cluster fix: keys to the planned owner, states closed", async () => {
        const [m0, m1, m2] = p32.filter(n => n.role === "master");
        const id = Object.fromEntries(await Promise.all([m0, m1, m2].map(async n => [n.name, await on(n, wire.myId)])));
        const keysOf = async (n: PlannedNode, slot: number) => (await on(n, c => wire.keysInSlots(c, [slot], 100)))[0];
        const migrate = (from: PlannedNode, to: PlannedNode, keys: Buffer[]) => on(from, c => wire.migrateKeys(c, { host: to.ip, port: to.port }, admin, [keys]));
        const setSlot = (n: PlannedNode, slot: number, ...args: string[]) => on(n, c => c.call("CLUSTER", "SETSLOT", String(slot), ...args));
        // Three slots of m0 holding at least 2 keys each.
        const counts = await on(m0, c => wire.countKeysInSlots(c, Array.from({ length: m0.slots![1] + 1 }, (_, s) => s)));
        const [away, back, idle] = counts.map((n, s) => [n, s]).filter(([n]) => n >= 2).map(([, s]) => s);
        const empty = counts.findIndex(n => n === 0);

        // `away`: half-migrated from m0 (its planned owner) to m1.
        await setSlot(m1, away, "IMPORTING", id[m0.name]);
        await setSlot(m0, away, "MIGRATING", id[m1.name]);
        await migrate(m0, m1, (await keysOf(m0, away)).slice(0, 1));
        // `back`: moved wholly to m1 by hand, then half-migrated back toward m0 (its planned owner).
        await setSlot(m1, back, "IMPORTING", id[m0.name]);
        await setSlot(m0, back, "MIGRATING", id[m1.name]);
        await migrate(m0, m1, await keysOf(m0, back));
        for (const n of [m1, m0, m2]) await setSlot(n, back, "NODE", id[m1.name]);
        await setSlot(m0, back, "IMPORTING", id[m1.name]);
        await setSlot(m1, back, "MIGRATING", id[m0.name]);
        await migrate(m1, m0, (await keysOf(m1, back)).slice(0, 1));
        // `idle`: opened toward m2, nothing moved.
        await setSlot(m2, idle, "IMPORTING", id[m0.name]);
        await setSlot(m0, idle, "MIGRATING", id[m2.name]);
        // `empty`: a slot without keys handed to m1 by hand (not open, just not where the plan wants it).
        await setSlot(m1, empty, "IMPORTING", id[m0.name]);
        await setSlot(m0, empty, "MIGRATING", id[m1.name]);
        for (const n of [m1, m0, m2]) await setSlot(n, empty, "NODE", id[m1.name]);
        // The set-up really is broken: redis-cli sees the open slots.
        expect(clusterCheck(m0)).toMatch(/\[WARNING\] Node .* has slots in (migrating|importing) state/);
        expect(await keysOf(m1, away)).toHaveLength(1);

        const r = await run(p32);
        console.log(`open slots ${away}, ${back}, ${idle}, misplaced ${empty}:\n${r.actions.join("\n")}`);
        expect(r.actions).toEqual([
            `itsc-m0: slot ${away} (1 keys moved), SETSLOT STABLE on itsc-m0, itsc-m1`,
            expect.stringMatching(new RegExp(`^itsc-m1 -> itsc-m0: slots ${back} \\(\\d+ keys moved\\), SETSLOT STABLE on itsc-m(0, itsc-m1|1, itsc-m0)$`)),
            `itsc-m0: slot ${idle}, SETSLOT STABLE on itsc-m0, itsc-m2`,
            `itsc-m1 -> itsc-m0: slots ${empty} (0 keys moved)`,
        ]);
        expect(await keysOf(m1, away)).toEqual([]);
        await expectPlannedSlots(p32);
        await expectEveryKey(p32);
        expectCheckPasses(m0);
        expect((await run(p32)).actions).toEqual([]);
    });

    test("a key on both sides of a cut-off MIGRATE: the owner's newest copy replaces the target's stale one", async () => {
        const [m0, m1, m2] = p32.filter(n => n.role === "master");
        const id = Object.fromEntries(await Promise.all([m0, m1, m2].map(async n => [n.name, await on(n, wire.myId)])));
        const setSlot = (n: PlannedNode, slot: number, ...args: string[]) => on(n, c => c.call("CLUSTER", "SETSLOT", String(slot), ...args));
        const counts = await on(m0, c => wire.countKeysInSlots(c, Array.from({ length: m0.slots![1] + 1 }, (_, s) => s)));
        const slot = counts.findIndex(n => n >= 2);
        // The slot moved wholly to m1 by hand, then opened back toward m0 (its planned owner).
        await setSlot(m1, slot, "IMPORTING", id[m0.name]);
        await setSlot(m0, slot, "MIGRATING", id[m1.name]);
        await on(m0, async c => wire.migrateKeys(c, { host: m1.ip, port: m1.port }, admin, await wire.keysInSlots(c, [slot], 100)));
        for (const n of [m1, m0, m2]) await setSlot(n, slot, "NODE", id[m1.name]);
        await setSlot(m0, slot, "IMPORTING", id[m1.name]);
        await setSlot(m1, slot, "MIGRATING", id[m0.name]);
        // A MIGRATE cut off after m0 stored the key: m0 keeps a copy (COPY), m1 still has it and takes a newer write.
        const [key] = (await on(m1, c => wire.keysInSlots(c, [slot], 1)))[0];
        const newest = await on(m1, c => c.getBuffer(key));
        await on(m1, c => c.set(key, "stale"));
        await on(m1, c => c.call("MIGRATE", m0.ip, String(m0.port), "", "0", "5000", "COPY", "AUTH2", "admin", pw.admin, "KEYS", key));
        await on(m1, c => c.set(key, newest!));
        expect(await on(m0, c => wire.countKeysInSlots(c, [slot]))).toEqual([1]);

        const r = await run(p32);
        expect(r.actions).toEqual([expect.stringMatching(new RegExp(`^itsc-m1 -> itsc-m0: slots ${slot} \\(${counts[slot]} keys moved\\)`))]);
        expect(await on(m0, c => c.getBuffer(key))).toEqual(newest);
        await expectPlannedSlots(p32);
        await expectEveryKey(p32); // the newest values, each key once
        expectCheckPasses(m0);
    });

    test("a planned replica that took over for a dropped master hands its slots to the planned owner and returns to its master", async () => {
        // With 2 replicas per master, Redis migrates one replica to a new master that has none (replica migration).
        const p4 = planFor(4, 2).filter(n => !n.name.startsWith("itsc-m3-"));
        const m3 = p4.find(n => n.name === "itsc-m3")!;
        fx.add([m3]);
        await run(p4);
        const m3id = await on(m3, wire.myId);
        let adopted: PlannedNode | undefined;
        await wire.waitUntil("a replica to migrate to the 4th master", async () => {
            for (const n of p32.filter(x => x.role === "replica")) {
                if ((await on(n, wire.clusterNodes)).find(v => v.flags.includes("myself"))!.masterId === m3id) adopted = n;
            }
            return adopted !== undefined;
        }, 30_000, 500);
        docker("stop", m3.name);

        const r = await run(p32);
        console.log(`${adopted!.name} followed the dropped master:\n${r.actions.join("\n")}`);
        const handed = r.actions.filter(a => a.startsWith(`${adopted!.name} -> itsc-m2: slots `));
        expect(rangesText(handed.flatMap(a => slotsOf(a.split("slots ")[1].split(" ")[0])))).toBe("12288-16383");
        expect(r.actions).toContain(`itsc-m0: CLUSTER FORGET ${m3id}`);
        const master = p32.find(n => n.name === adopted!.masterName)!;
        await on(adopted!, async c => {
            const repl = await wire.info(c, "replication");
            expect([repl.role, repl.master_host, repl.master_link_status]).toEqual(["slave", master.ip, "up"]);
        });
        await expectEveryKey(p32);
        await expectPlannedSlots(p32);
        expectCheckPasses(p32[0]);
        expect((await run(p32)).actions).toEqual([]);
    });
});
