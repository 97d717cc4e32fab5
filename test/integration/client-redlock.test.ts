// Redlock on the real LockQuorum (5 independent masters: ACL app user, appendonly yes, appendfsync always) deployed
// by the engine and providers: mutual exclusion between two contenders with all five up and with one stopped; no
// lock (and nothing left behind) with three stopped. How fast a lock is taken is measured by the bench (bench/locks.ts).
import type { Stack } from "@pulumi/pulumi/automation";
import type { Redis } from "ioredis";
import * as wire from "../../components/redis/wire";
import { connect, redlock, RedlockResult } from "../../components/client";
import { LockQuorum, QuorumNode } from "../../components/quorum";
import { plainOutputs, tearDown, testStack } from "./deploy";
import { docker, Scope } from "./harness";

jest.setTimeout(300_000);

const TTL_MS = 1000;

describe("Redlock on a LockQuorum of 5 deployed through the engine", () => {
    const scope = new Scope();
    let stack: Stack | undefined;
    let q: { nodes: QuorumNode[]; appUser: wire.Auth; adminUser: wire.Auth; networkName: string };
    const contenders: Redis[][] = [];
    const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

    beforeAll(async () => {
        stack = await testStack(scope, "itlq", async () => {
            const quorum = new LockQuorum("itlq", { subnet: "172.25.21.0/24" });
            return { nodes: quorum.nodes, appUser: quorum.appUser, adminUser: quorum.adminUser, networkName: quorum.networkName };
        });
        q = plainOutputs((await stack.up()).outputs) as typeof q;
        for (const n of q.nodes) {
            await wire.waitUntil(
                `${n.name} to answer`,
                async () =>
                    wire.withClient(
                        { host: n.ip, port: n.port },
                        { auth: q.appUser, connectTimeoutMs: 1000 },
                        async c => (await c.ping()) === "PONG",
                    ),
                30_000,
                200,
            );
        }
        // Each contender has its own connection to every node; few reconnects, so a stopped node fails fast.
        for (let i = 0; i < 2; i++) {
            contenders.push(
                await Promise.all(
                    q.nodes.map(n =>
                        connect({ kind: "node", host: n.ip, port: n.port, ...q.appUser }, { maxReconnects: 2, connectTimeoutMs: 1000 }),
                    ),
                ),
            );
        }
    });
    afterAll(async () => {
        await Promise.all(contenders.flat().map(c => c.quit().catch(() => c.disconnect())));
        await tearDown(scope, stack);
    });

    test("five independent masters on the quorum's network, each with appendonly yes and appendfsync always", async () => {
        expect(q.nodes.map(n => [n.name, n.ip])).toEqual([0, 1, 2, 3, 4].map(i => [`itlq-${i}`, `172.25.21.${10 + i}`]));
        for (const n of q.nodes) {
            expect(docker("inspect", "-f", `{{(index .NetworkSettings.Networks "${q.networkName}").IPAddress}}`, n.name)).toBe(n.ip);
            await wire.withClient({ host: n.ip, port: n.port }, { auth: q.adminUser }, async c => {
                const repl = await wire.info(c, "replication");
                expect([n.name, repl.role, repl.connected_slaves]).toEqual([n.name, "master", "0"]);
                expect(await c.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
                expect(await c.config("GET", "appendfsync")).toEqual(["appendfsync", "always"]);
            });
        }
    });

    /** Two contenders race for the lock `rounds` times; returns acquisitions per contender and critical-section overlaps. */
    async function contend(resource: string, rounds: number) {
        let holder: number | null = null;
        let overlaps = 0;
        const wins = [0, 0];
        const validities: number[] = [];
        await Promise.all(
            contenders.map(async (clients, who) => {
                for (let r = 0; r < rounds; r++) {
                    const lock: RedlockResult = await redlock(clients, resource, TTL_MS, {
                        retries: 10,
                        retryDelayMs: 5,
                        retryJitterMs: 20,
                        instanceTimeoutMs: 100,
                    });
                    if (!lock.acquired) continue;
                    validities.push(lock.validityMs);
                    if (holder !== null) overlaps++;
                    holder = who;
                    wins[who]++;
                    await sleep(3); // the critical section
                    if (holder !== who) overlaps++;
                    holder = null;
                    await lock.release();
                }
            }),
        );
        return { wins, overlaps, validities };
    }

    test("all 5 up: two contenders never hold the lock at once", async () => {
        const r = await contend("rl:all-up", 25);
        expect(r.overlaps).toBe(0);
        expect(r.wins[0] + r.wins[1]).toBeGreaterThanOrEqual(25);
        // Every lock granted is valid for what is left of the TTL after taking it and the clock drift: more than 0, less than the TTL.
        expect(r.validities.filter(v => !(v > 0 && v < TTL_MS))).toEqual([]);
    });

    test("one of five stopped: locking still works, mutual exclusion holds", async () => {
        docker("stop", "-t", "2", q.nodes[4].name);
        const r = await contend("rl:one-down", 25);
        expect(r.overlaps).toBe(0);
        expect(r.validities.filter(v => !(v > 0 && v < TTL_MS))).toEqual([]);
        expect(r.wins[0] + r.wins[1]).toBeGreaterThanOrEqual(25);
    });

    test("three of five stopped: no majority, nothing left behind on the survivors", async () => {
        docker("stop", "-t", "2", q.nodes[3].name, q.nodes[2].name);
        const lock = await redlock(contenders[0], "rl:minority", TTL_MS, { retries: 2, retryDelayMs: 10, instanceTimeoutMs: 100 });
        expect(lock).toMatchObject({ acquired: false, validityMs: 0, attempts: 3 });
        for (const n of q.nodes.slice(0, 2)) {
            await wire.withClient({ host: n.ip, port: n.port }, { auth: q.appUser }, async c =>
                expect(await c.exists("rl:minority")).toBe(0),
            );
        }
    });
});
