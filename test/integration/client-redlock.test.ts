// Redlock on 5 independent redis-server containers laid out by planQuorum(), configured as LockQuorum configures
// them (ACL app user, appendonly yes, appendfsync always): mutual exclusion between two contenders with all five
// up and with one stopped; no lock (and nothing left behind) with three stopped.
import type { Redis } from "ioredis";
import { renderRedisConf } from "../../components/redis/conf";
import * as wire from "../../components/redis/wire";
import { connect, planQuorum, redlock, RedlockResult } from "../../components/client";
import { aclFor, docker, nodeFiles, redisCommand, Scope, testUsers } from "./harness";

jest.setTimeout(180_000);

describe("Redlock on 5 independent redis-server containers", () => {
    const scope = new Scope();
    const pw = testUsers();
    const app = { username: "app", password: pw.app };
    const nodes = planQuorum({ name: "itclient-q", size: 5, subnet: "172.25.21.0/24", port: 6379 });
    const contenders: Redis[][] = [];
    const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

    beforeAll(async () => {
        const net = scope.network("itclient-q-net", "172.25.21.0/24");
        const conf = renderRedisConf({ port: 6379, appendonly: true, appendfsync: "always" });
        for (const n of nodes) scope.container(n.name, { network: net, ip: n.ip, command: redisCommand, files: nodeFiles(conf, aclFor(pw)) });
        for (const n of nodes) {
            await wire.waitUntil(`${n.name} to answer`, async () =>
                wire.withClient({ host: n.ip, port: n.port }, { auth: app, connectTimeoutMs: 1000 }, async c => (await c.ping()) === "PONG"), 30_000, 200);
        }
        // Each contender has its own connection to every node; few reconnects, so a stopped node fails fast.
        for (let i = 0; i < 2; i++) {
            contenders.push(await Promise.all(nodes.map(n => connect({ kind: "node", host: n.ip, port: n.port, ...app }, { maxReconnects: 2, connectTimeoutMs: 1000 }))));
        }
    });
    afterAll(async () => {
        await Promise.all(contenders.flat().map(c => c.quit().catch(() => c.disconnect())));
        scope.cleanup();
    });

    test("nodes run with appendonly yes and appendfsync always", async () => {
        await wire.withClient({ host: nodes[0].ip, port: nodes[0].port }, { auth: { username: "admin", password: pw.admin } }, async c => {
            expect(await c.config("GET", "appendonly")).toEqual(["appendonly", "yes"]);
            expect(await c.config("GET", "appendfsync")).toEqual(["appendfsync", "always"]);
        });
    });

    /** Two contenders race for the lock `rounds` times; returns acquisitions per contender and critical-section overlaps. */
    async function contend(resource: string, rounds: number) {
        let holder: number | null = null;
        let overlaps = 0;
        const wins = [0, 0];
        const latencies: number[] = [];
        const validities: number[] = [];
        await Promise.all(contenders.map(async (clients, who) => {
            for (let r = 0; r < rounds; r++) {
                const t0 = Date.now();
                const lock: RedlockResult = await redlock(clients, resource, 1000, { retries: 10, retryDelayMs: 5, retryJitterMs: 20, instanceTimeoutMs: 100 });
                if (!lock.acquired) continue;
                latencies.push(Date.now() - t0);
                validities.push(lock.validityMs);
                if (holder !== null) overlaps++;
                holder = who;
                wins[who]++;
                await sleep(3); // the critical section
                if (holder !== who) overlaps++;
                holder = null;
                await lock.release();
            }
        }));
        const avg = (xs: number[]) => (xs.length ? Math.round(xs.reduce((a, b) => a + b, 0) / xs.length) : 0);
        return { wins, overlaps, avgAcquireMs: avg(latencies), minValidityMs: Math.min(...validities) };
    }

    test("all 5 up: two contenders never hold the lock at once", async () => {
        const r = await contend("rl:all-up", 25);
        console.log(`redlock, 5/5 up, 2 contenders x 25 rounds: ${JSON.stringify(r)}`);
        expect(r.overlaps).toBe(0);
        expect(r.wins[0] + r.wins[1]).toBeGreaterThanOrEqual(25);
        expect(r.minValidityMs).toBeGreaterThan(900);
    });

    test("one of five stopped: locking still works, mutual exclusion holds", async () => {
        docker("stop", "-t", "2", nodes[4].name);
        const r = await contend("rl:one-down", 25);
        console.log(`redlock, 4/5 up, 2 contenders x 25 rounds: ${JSON.stringify(r)}`);
        expect(r.overlaps).toBe(0);
        expect(r.wins[0] + r.wins[1]).toBeGreaterThanOrEqual(25);
    });

    test("three of five stopped: no majority, nothing left behind on the survivors", async () => {
        docker("stop", "-t", "2", nodes[3].name, nodes[2].name);
        const t0 = Date.now();
        const lock = await redlock(contenders[0], "rl:minority", 1000, { retries: 2, retryDelayMs: 10, instanceTimeoutMs: 100 });
        console.log(`redlock, 2/5 up: acquired=${lock.acquired} after ${lock.attempts} attempts, ${Date.now() - t0} ms`);
        expect(lock).toMatchObject({ acquired: false, validityMs: 0, attempts: 3 });
        for (const n of nodes.slice(0, 2)) {
            await wire.withClient({ host: n.ip, port: n.port }, { auth: app }, async c => expect(await c.exists("rl:minority")).toBe(0));
        }
    });
});
