// Scaling a live RedisCluster (components/cluster, TLS-only with mutual TLS, node timeout 3 s, one local engine) by
// changing its args and running `pulumi up` again through the real engine and plugins: 3+1 -> 4+1 (the engine creates
// the new shard's containers, then the bootstrap's update moves slots and keys to it), back to 3+1 (the update moves
// the removed shard's slots away and resets it, and only then does the engine delete its containers), replicas 1 -> 2,
// half-migrated slots repaired by a plain `up`, a vanished node that owns slots refused, and a planned replica that took
// over for a dropped master sent back. Every key written at the start must read back after each step, and so must every
// write acknowledged while slots were moving (an app client keeps writing through both scalings). What the bootstrap
// did is read from its lines in the engine's diagnostics (bootstrapActions); the order of the engine's steps from its events.
import { DiagnosticEvent, EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { Cluster } from "ioredis";
import { RedisClusterArgs } from "../../components/cluster";
import { converge } from "../../components/cluster/converge";
import { PlannedNode } from "../../components/cluster/plan";
import { rangesText } from "../../components/cluster/slots";
import * as wire from "../../components/redis/wire";
import { bootstrapActions, clusterStack, DeployedCluster, plainOutputs, tearDown } from "./deploy";
import { docker, Scope } from "./harness";

jest.setTimeout(600_000);

const NAME = "itsc";
const KEYS = Number(process.env.RST_SCALE_KEYS ?? 2000);
/** Keys whose names are not UTF-8: they must move byte for byte. */
const BINARY = 20;
const CONTAINER = "docker:index/container:Container";
const BOOTSTRAP = "pulumi-nodejs:dynamic/redis:ClusterBootstrap";

/** "1-3,7" gives [1, 2, 3, 7]. */
const slotsOf = (text: string) =>
    text.split(",").flatMap(r => {
        const [a, b = a] = r.split("-").map(Number);
        return Array.from({ length: b - a + 1 }, (_, i) => a + i);
    });

/** `first` and `then` are both among the engine's steps, `first` earlier. */
function expectBefore(steps: string[], first: string, then: string): void {
    const [i, j] = [steps.indexOf(first), steps.indexOf(then)];
    expect({ first, then, found: [i >= 0, j >= 0], inOrder: i < j }).toEqual({ first, then, found: [true, true], inOrder: true });
}

describe("cluster scale out/in with slot migration through the real engine (RedisCluster, TLS-only, mutual TLS)", () => {
    const scope = new Scope();
    // Read at every `up`: a test changes masters or replicasPerMaster and runs `up` again.
    const args: RedisClusterArgs = {
        subnet: "172.25.50.0/24",
        antiAffinity: "soft",
        mutualTls: true,
        nodeTimeoutMs: 3000,
        masters: 3,
        replicasPerMaster: 1,
    };
    let stack: Stack;
    /** The cluster as the last successful `up` deployed it. */
    let d: DeployedCluster;
    const key = (i: number) => `scale:${i}`;
    const value = (i: number) => `v${i}-${"x".repeat(i % 50)}`;
    const binaryKey = (i: number) => Buffer.from([0x62, 0xff, 0xfe, 0x80 + i]);

    /**
     * `pulumi up` with the args as they are now. Returns what the bootstrap did and the engine's container and
     * bootstrap steps in order (`start delete itsc-m3`, `done update itsc-bootstrap`); `d` is the cluster it deployed.
     */
    async function up(): Promise<{ actions: string[]; steps: string[] }> {
        const steps: string[] = [];
        const diagnostics: DiagnosticEvent[] = [];
        const onEvent = (e: EngineEvent) => {
            if (e.diagnosticEvent) diagnostics.push(e.diagnosticEvent);
            const [phase, m] = e.resourcePreEvent ? ["start", e.resourcePreEvent.metadata] : ["done", e.resOutputsEvent?.metadata];
            if (m && (m.type === CONTAINER || m.type === BOOTSTRAP)) steps.push(`${phase} ${m.op} ${m.urn.split("::").pop()}`);
        };
        const r = await stack.up({ onEvent });
        d = new DeployedCluster(plainOutputs(r.outputs), NAME);
        return { actions: bootstrapActions(diagnostics, NAME), steps };
    }

    /** Settled: a preview expects no changes (the bootstrap's diff finds no drift) and converge has nothing to do. */
    async function expectSettled(): Promise<void> {
        await stack.preview({ expectNoChanges: true });
        expect((await converge(d.target)).actions).toEqual([]);
    }

    /**
     * Keeps writing as the app user (through `via`) while `during` runs: 300 keys round and round, so the first round
     * makes new keys (sent on with ASK to a node importing their slot) and later rounds rewrite keys that may sit on a
     * migrating source. Returns the last value acknowledged for each key, the writes done and any that failed.
     */
    async function writeWhile<T>(
        via: DeployedCluster,
        during: () => Promise<T>,
    ): Promise<{ result: T; acked: Map<string, string>; writes: number; errors: string[] }> {
        return via.withApp(async (c: Cluster) => {
            const acked = new Map<string, string>();
            const errors: string[] = [];
            let stop = false,
                writes = 0;
            const writer = (async () => {
                for (let i = 0; !stop; i++) {
                    const [k, val] = [`live:${i % 300}`, `w${i}`];
                    try {
                        await c.set(k, val);
                        acked.set(k, val);
                        writes++;
                    } catch (e) {
                        errors.push(`${k}: ${(e as Error).message}`);
                    }
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
    async function expectAcked(acked: Map<string, string>): Promise<void> {
        await d.withApp(async c => {
            const keys = [...acked.keys()];
            const got = await Promise.all(keys.map(k => c.get(k)));
            expect(keys.filter((k, i) => got[i] !== acked.get(k)).map(k => `${k}: ${acked.get(k)}`)).toEqual([]);
            await Promise.all(keys.map(k => c.del(k)));
        });
    }

    async function expectEveryKey(): Promise<void> {
        const values = await d.withApp(c => Promise.all(Array.from({ length: KEYS }, (_, i) => c.get(key(i)))));
        const wrong = values.map((v, i) => [i, v] as const).filter(([i, v]) => v !== value(i));
        expect(wrong.slice(0, 5)).toEqual([]);
        const binary = await d.withApp(c => Promise.all(Array.from({ length: BINARY }, (_, i) => c.get(binaryKey(i)))));
        expect(binary).toEqual(Array.from({ length: BINARY }, (_, i) => `b${i}`));
        // And nowhere else: the planned masters hold exactly these keys.
        const sizes = await Promise.all(d.masters.map(n => d.on(n, c => c.dbsize())));
        expect(sizes.reduce((a, b) => a + b, 0)).toBe(KEYS + BINARY);
    }

    async function expectPlannedSlots(): Promise<void> {
        for (const n of d.plan) {
            const view = await d.on(n, wire.clusterNodes);
            const me = view.find(v => v.flags.includes("myself"))!;
            expect([n.name, me.openSlots]).toEqual([n.name, []]);
            if (n.role === "master") expect([n.name, me.slots]).toEqual([n.name, [n.slots]]);
        }
    }

    /** The containers of the suite's scope that exist now, by name. */
    const containers = () => docker("ps", "-a", "--format", "{{.Names}}", "--filter", `label=${scope.label}`).split("\n").filter(Boolean);

    beforeAll(async () => {
        stack = await clusterStack(scope, NAME, { [NAME]: args });
        await up();
        expect(d.plan.map(n => n.name)).toEqual(["itsc-m0", "itsc-m1", "itsc-m2", "itsc-m0-r0", "itsc-m1-r0", "itsc-m2-r0"]);
        // The shape the title says: client certificates required.
        await d.on(d.plan[0], async c => expect(await c.call("CONFIG", "GET", "tls-auth-clients")).toEqual(["tls-auth-clients", "yes"]));
        await d.withApp(async c => {
            const writes = [];
            for (let i = 0; i < KEYS; i++) writes.push(c.set(key(i), value(i)));
            for (let i = 0; i < BINARY; i++) writes.push(c.set(binaryKey(i), `b${i}`));
            await Promise.all(writes);
            // Acknowledged by each master's replica too.
            for (const m of c.nodes("master")) expect(Number(await m.call("WAIT", "1", "5000"))).toBe(1);
        });
    });
    afterAll(() => tearDown(scope, stack));

    test("3+1 -> 4+1 under writes: the new master gets its planned slots with their keys; nothing is lost", async () => {
        const before = d;
        args.masters = 4;
        const t0 = Date.now();
        const { result: r, acked, writes, errors } = await writeWhile(before, up);
        const ms = Date.now() - t0;
        const moves = r.actions.filter(a => / -> /.test(a));
        const moved = moves.reduce((n, a) => n + Number(/\((\d+) keys moved\)/.exec(a)![1]), 0);
        console.log(
            `3+1 -> 4+1: up took ${ms} ms, 8192 slots and ${moved} of ${KEYS + BINARY} keys moved in ${moves.length} steps, ` +
                `${writes} writes meanwhile (${errors.length} failed):\n${r.actions.join("\n")}`,
        );
        expect(errors.slice(0, 5)).toEqual([]);
        expect(writes).toBeGreaterThan(300); // every live key written, most of them more than once
        await expectAcked(acked);
        // The engine made the new shard's containers before it ran the bootstrap's update.
        for (const n of ["itsc-m3", "itsc-m3-r0"]) expectBefore(r.steps, `done create ${n}`, "start update itsc-bootstrap");
        expect(r.actions).toContain("itsc-m3-r0: CLUSTER REPLICATE itsc-m3");
        expect(moves.map(a => a.split(":")[0])).toEqual(
            expect.arrayContaining(["itsc-m0 -> itsc-m1", "itsc-m1 -> itsc-m2", "itsc-m2 -> itsc-m3"]),
        );
        expect(moved).toBeGreaterThan(KEYS / 3);
        await expectPlannedSlots();
        await expectEveryKey();
        expect(await d.on(d.node("itsc-m3"), c => c.dbsize())).toBeGreaterThan(KEYS / 5);
        d.expectCheckPasses();
        await d.expectPlannedRoles();
        await expectSettled();
    });

    test("4+1 -> 3+1 under writes: the removed shard's slots move away and it is reset before the engine deletes its containers", async () => {
        const before = d;
        const gone = before.plan.filter(n => n.name.startsWith("itsc-m3"));
        expect(gone.map(n => `${n.name} ${n.ip}`)).toEqual(["itsc-m3 172.25.50.28", "itsc-m3-r0 172.25.50.29"]);
        const removedIds = await Promise.all(gone.map(n => before.on(n, wire.myId)));
        args.masters = 3;
        const t0 = Date.now();
        const { result: r, acked, writes, errors } = await writeWhile(before, up);
        console.log(
            `4+1 -> 3+1: up took ${Date.now() - t0} ms, ${writes} writes meanwhile (${errors.length} failed):\n${r.actions.join("\n")}`,
        );
        expect(errors.slice(0, 5)).toEqual([]);
        await expectAcked(acked);
        // The removed master (.28) hands 12288-16383 to m2, in chunks.
        const fromM3 = r.actions.filter(a => a.startsWith("172.25.50.28:6379 -> itsc-m2: slots "));
        expect(rangesText(fromM3.flatMap(a => slotsOf(a.split("slots ")[1].split(" ")[0])))).toBe("12288-16383");
        expect(r.actions).toEqual(
            expect.arrayContaining([
                "172.25.50.28:6379: CLUSTER RESET",
                "172.25.50.29:6379: CLUSTER RESET",
                ...d.plan.flatMap(n => removedIds.map(id => expect.stringMatching(new RegExp(`^${n.name}: CLUSTER FORGET ${id} `)))),
            ]),
        );
        // The engine deleted the removed containers, and only once the bootstrap's update (slots moved, nodes reset) was
        // done. (So the removed nodes themselves cannot be asked afterwards; their keys are counted on the planned masters.)
        for (const n of gone) expectBefore(r.steps, "done update itsc-bootstrap", `start delete ${n.name}`);
        expect(containers().filter(c => c.startsWith("itsc-m3"))).toEqual([]);
        await expectEveryKey();
        await expectPlannedSlots();
        for (const n of d.plan) expect((await d.on(n, wire.clusterNodes)).filter(v => removedIds.includes(v.id))).toEqual([]);
        d.expectCheckPasses();
        await d.expectPlannedRoles();
        await expectSettled();
    });

    test("a node outside the plan that vanished while owning slots is refused by name, and is scaled in once it is back", async () => {
        args.masters = 4;
        expect((await up()).actions).toContain("itsc-m3-r0: CLUSTER REPLICATE itsc-m3");
        await expectPlannedSlots();
        const [m3, r3] = [d.node("itsc-m3"), d.node("itsc-m3-r0")];
        const [m3id, r3id] = await Promise.all([m3, r3].map(n => d.on(n, wire.myId)));
        const others = d.plan.filter(n => !n.name.startsWith("itsc-m3"));
        // The 4th master's replica stops first, so nobody takes over its slots; once every other node sees it failed,
        // the master stops too.
        docker("stop", r3.name);
        await wire.waitUntil(
            "every other node to see itsc-m3-r0 failed",
            async () => {
                for (const n of others)
                    if (!(await d.on(n, wire.clusterNodes)).find(v => v.id === r3id)?.flags.includes("fail"))
                        return `${n.name} does not yet`;
                return true;
            },
            30_000,
            200,
        );
        docker("stop", m3.name);
        args.masters = 3;
        await expect(stack.up()).rejects.toThrow(
            new RegExp(
                `node ${m3id} \\(172\\.25\\.50\\.28:6379\\) is not in the plan, does not answer, and owns slots 12288-16383: not forgetting it`,
            ),
        );
        // Nobody forgot it: every planned node still has it. The failed update stopped the engine before its deletes.
        for (const n of others) expect((await d.on(n, wire.clusterNodes)).some(v => v.id === m3id)).toBe(true);
        expect(
            containers()
                .filter(c => c.startsWith("itsc-m3"))
                .sort(),
        ).toEqual(["itsc-m3", "itsc-m3-files", "itsc-m3-r0", "itsc-m3-r0-files"]); // with their file writers

        docker("start", m3.name, r3.name);
        for (const n of [m3, r3])
            await wire.waitUntil(`${n.name} to answer again`, () => d.on(n, async c => (await c.ping()) === "PONG"), 30_000, 200);
        const r = await up();
        expect(r.actions).toEqual(expect.arrayContaining(["172.25.50.28:6379: CLUSTER RESET", "172.25.50.29:6379: CLUSTER RESET"]));
        for (const n of [m3, r3]) expectBefore(r.steps, "done update itsc-bootstrap", `start delete ${n.name}`);
        await expectEveryKey();
        await expectPlannedSlots();
        d.expectCheckPasses();
        await d.expectPlannedRoles();
        await expectSettled();
    });

    test("replicas 1 -> 2: new replicas meet the cluster and follow their planned masters", async () => {
        const before = d.plan.map(n => n.name);
        args.replicasPerMaster = 2;
        const r = await up();
        const fresh = d.plan.filter(n => !before.includes(n.name));
        expect(fresh.map(n => n.name)).toEqual(["itsc-m0-r1", "itsc-m1-r1", "itsc-m2-r1"]);
        for (const n of fresh) {
            expectBefore(r.steps, `done create ${n.name}`, "start update itsc-bootstrap");
            expect(r.actions).toContain(`${n.name}: CLUSTER REPLICATE ${n.masterName}`);
            expect(r.actions.some(a => a.endsWith(`CLUSTER MEET ${n.ip}:6379`))).toBe(true);
            const master = d.node(n.masterName!);
            await d.on(n, async c => {
                const repl = await wire.info(c, "replication");
                expect([repl.role, repl.master_host, repl.master_link_status]).toEqual(["slave", master.ip, "up"]);
                const masterKeys = await d.on(master, m => m.dbsize());
                await wire.waitUntil(`${n.name} to hold its master's keys`, async () => (await c.dbsize()) === masterKeys, 10_000, 100);
            });
        }
        expect(r.actions.filter(a => / -> /.test(a))).toEqual([]);
        d.expectCheckPasses();
        await d.expectPlannedRoles();
        await expectSettled();
    });

    test("open slots left by hand are repaired by a plain up like redis-cli --cluster fix: keys to the planned owner, states closed", async () => {
        const [m0, m1, m2] = d.masters;
        const admin = d.target.auth;
        const id = Object.fromEntries(await Promise.all([m0, m1, m2].map(async n => [n.name, await d.on(n, wire.myId)])));
        const keysOf = async (n: PlannedNode, slot: number) => (await d.on(n, c => wire.keysInSlots(c, [slot], 100)))[0];
        const migrate = (from: PlannedNode, to: PlannedNode, keys: Buffer[]) =>
            d.on(from, c => wire.migrateKeys(c, { host: to.ip, port: to.port }, admin, [keys]));
        const setSlot = (n: PlannedNode, slot: number, ...a: string[]) => d.on(n, c => c.call("CLUSTER", "SETSLOT", String(slot), ...a));
        // Three slots of m0 holding at least 2 keys each.
        const counts = await d.on(m0, c =>
            wire.countKeysInSlots(
                c,
                Array.from({ length: m0.slots![1] + 1 }, (_, s) => s),
            ),
        );
        const [away, back, idle] = counts
            .map((n, s) => [n, s])
            .filter(([n]) => n >= 2)
            .map(([, s]) => s);
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
        expect(d.check(m0)).toMatch(/\[WARNING\] Node .* has slots in (migrating|importing) state/);
        expect(await keysOf(m1, away)).toHaveLength(1);

        // The args are unchanged: the bootstrap's diff sees the drift and its update repairs it.
        const r = await up();
        console.log(`open slots ${away}, ${back}, ${idle}, misplaced ${empty}:\n${r.actions.join("\n")}`);
        expect(r.steps).toContain("done update itsc-bootstrap");
        expect(r.actions).toEqual([
            `itsc-m0: slot ${away} (1 keys moved), SETSLOT STABLE on itsc-m0, itsc-m1`,
            expect.stringMatching(
                new RegExp(`^itsc-m1 -> itsc-m0: slots ${back} \\(\\d+ keys moved\\), SETSLOT STABLE on itsc-m(0, itsc-m1|1, itsc-m0)$`),
            ),
            `itsc-m0: slot ${idle}, SETSLOT STABLE on itsc-m0, itsc-m2`,
            `itsc-m1 -> itsc-m0: slots ${empty} (0 keys moved)`,
        ]);
        expect(await keysOf(m1, away)).toEqual([]);
        await expectPlannedSlots();
        await expectEveryKey();
        d.expectCheckPasses(m0);
        await expectSettled();
    });

    test("a key on both sides of a cut-off MIGRATE: the owner's newest copy replaces the target's stale one", async () => {
        const [m0, m1, m2] = d.masters;
        const admin = d.target.auth;
        const id = Object.fromEntries(await Promise.all([m0, m1, m2].map(async n => [n.name, await d.on(n, wire.myId)])));
        const setSlot = (n: PlannedNode, slot: number, ...a: string[]) => d.on(n, c => c.call("CLUSTER", "SETSLOT", String(slot), ...a));
        const counts = await d.on(m0, c =>
            wire.countKeysInSlots(
                c,
                Array.from({ length: m0.slots![1] + 1 }, (_, s) => s),
            ),
        );
        const slot = counts.findIndex(n => n >= 2);
        // The slot moved wholly to m1 by hand, then opened back toward m0 (its planned owner).
        await setSlot(m1, slot, "IMPORTING", id[m0.name]);
        await setSlot(m0, slot, "MIGRATING", id[m1.name]);
        await d.on(m0, async c => wire.migrateKeys(c, { host: m1.ip, port: m1.port }, admin, await wire.keysInSlots(c, [slot], 100)));
        for (const n of [m1, m0, m2]) await setSlot(n, slot, "NODE", id[m1.name]);
        await setSlot(m0, slot, "IMPORTING", id[m1.name]);
        await setSlot(m1, slot, "MIGRATING", id[m0.name]);
        // A MIGRATE cut off after m0 stored the key: m0 keeps a copy (COPY), m1 still has it and takes a newer write.
        const [k] = (await d.on(m1, c => wire.keysInSlots(c, [slot], 1)))[0];
        const newest = await d.on(m1, c => c.getBuffer(k));
        await d.on(m1, c => c.set(k, "stale"));
        await d.on(m1, c =>
            c.call("MIGRATE", m0.ip, String(m0.port), "", "0", "5000", "COPY", "AUTH2", admin.username, admin.password, "KEYS", k),
        );
        await d.on(m1, c => c.set(k, newest!));
        expect(await d.on(m0, c => wire.countKeysInSlots(c, [slot]))).toEqual([1]);

        // The args are unchanged again: a plain up repairs.
        const r = await up();
        expect(r.actions).toEqual([
            expect.stringMatching(new RegExp(`^itsc-m1 -> itsc-m0: slots ${slot} \\(${counts[slot]} keys moved\\)`)),
        ]);
        expect(await d.on(m0, c => c.getBuffer(k))).toEqual(newest);
        await expectPlannedSlots();
        await expectEveryKey(); // the newest values, each key once
        d.expectCheckPasses(m0);
        await expectSettled();
    });

    test("a planned replica that took over for a dropped master hands its slots to the planned owner and returns to its master", async () => {
        args.masters = 4; // 4 x 2
        await up();
        await expectPlannedSlots();
        const m3 = d.node("itsc-m3");
        const m3id = await d.on(m3, wire.myId);
        const own = d.plan.filter(n => n.masterName === m3.name);
        const others = d.plan.filter(n => n.role === "replica" && n.masterName !== m3.name);
        // The 4th master's own replicas stop: Redis then migrates a replica of a master with two to it (replica migration).
        docker("stop", ...own.map(n => n.name));
        let adopted: PlannedNode | undefined;
        await wire.waitUntil(
            "a replica to migrate to the 4th master",
            async () => {
                for (const n of others) {
                    if ((await d.on(n, wire.clusterNodes)).find(v => v.flags.includes("myself"))!.masterId === m3id) adopted = n;
                }
                return adopted !== undefined;
            },
            60_000,
            500,
        );
        docker("stop", m3.name);

        // Scaling in: the bootstrap waits for the adopted replica to take over m3's slots, forgets the stopped nodes and
        // moves the slots to their planned owner; then the engine deletes the stopped containers.
        args.masters = 3;
        const r = await up();
        console.log(`${adopted!.name} followed the dropped master:\n${r.actions.join("\n")}`);
        const handed = r.actions.filter(a => a.startsWith(`${adopted!.name} -> itsc-m2: slots `));
        expect(rangesText(handed.flatMap(a => slotsOf(a.split("slots ")[1].split(" ")[0])))).toBe("12288-16383");
        expect(r.actions).toContain(`itsc-m0: CLUSTER FORGET ${m3id}`);
        for (const n of [m3, ...own]) expectBefore(r.steps, "done update itsc-bootstrap", `start delete ${n.name}`);
        const master = d.node(adopted!.masterName!);
        await d.on(adopted!, async c => {
            const repl = await wire.info(c, "replication");
            expect([repl.role, repl.master_host, repl.master_link_status]).toEqual(["slave", master.ip, "up"]);
        });
        await expectEveryKey();
        await expectPlannedSlots();
        d.expectCheckPasses();
        await d.expectPlannedRoles();
        await expectSettled();
    });
});
