// Locks and transactions on the real LockQuorum (5 nodes, appendfsync always) deployed by the engine: how long a
// Redlock takes with 5/5 and 4/5 nodes up and how long it takes to give up with 2/5, and 20 workers x 10 increments
// of one key with WATCH/MULTI vs a Lua read-modify-write. The integration tests check the properties; this, the speed.
// Alone: `npx ts-node --transpile-only bench/locks.ts [subnet]` (default: a free /24 of 172.25.30-39).
import type { Redis } from "ioredis";
import { performance } from "perf_hooks";
import { addToCounter, connect, optimisticTransaction, redlock } from "../components/client";
import { LockQuorum, QuorumNode } from "../components/quorum";
import * as wire from "../components/redis/wire";
import { plainOutputs, testStack } from "../test/integration/deploy";
import { docker, Scope } from "../test/integration/harness";
import { cleanupScope, freeSubnets, median } from "./common";

export interface LockTimes {
    /** Median and 95th percentile ms to take a free lock (one contender), by nodes up. */
    acquire: Record<"5/5" | "4/5", { median: number; p95: number; rounds: number }>;
    /** ms until redlock gives up (3 attempts) with 2 of 5 up. */
    giveUpMs: number;
    /** 20 workers x 10 increments of one key. */
    watchMs: number;
    watchAttempts: number;
    luaMs: number;
}

const ROUNDS = 50;
const WORKERS = 20;
const INCREMENTS = 10;

const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(0.95 * xs.length) - 1];

async function timed(f: () => Promise<unknown>): Promise<number> {
    const t = performance.now();
    await f();
    return performance.now() - t;
}

export async function benchLocks(scope: Scope, subnet: string, log: (s: string) => void): Promise<LockTimes> {
    const stack = await testStack(scope, "benchlq", async () => {
        const q = new LockQuorum("bench-lq", { subnet });
        return { nodes: q.nodes, appUser: q.appUser };
    });
    const clients: Redis[] = [];
    try {
        const q = plainOutputs((await stack.up()).outputs) as { nodes: QuorumNode[]; appUser: wire.Auth };
        const node = (n: QuorumNode) =>
            connect({ kind: "node", host: n.ip, port: n.port, ...q.appUser }, { maxReconnects: 2, connectTimeoutMs: 1000 });
        for (const n of q.nodes) {
            await wire.waitUntil(
                `${n.name} to answer`,
                () =>
                    wire.withClient(
                        { host: n.ip, port: n.port },
                        { auth: q.appUser, connectTimeoutMs: 1000 },
                        async c => (await c.ping()) === "PONG",
                    ),
                30_000,
                100,
            );
        }

        const workers = await Promise.all(Array.from({ length: WORKERS }, () => node(q.nodes[0])));
        clients.push(...workers);
        let watchAttempts = 0;
        const watchMs = await timed(() =>
            Promise.all(
                workers.map(async c => {
                    for (let i = 0; i < INCREMENTS; i++) {
                        const r = await optimisticTransaction(
                            c,
                            ["bench:tx"],
                            async rc => {
                                const n = Number((await rc.get("bench:tx")) ?? 0);
                                return tx => tx.set("bench:tx", String(n + 1));
                            },
                            { maxAttempts: 500, baseDelayMs: 2, maxDelayMs: 50 },
                        );
                        watchAttempts += r.attempts;
                    }
                }),
            ),
        );
        const luaMs = await timed(() =>
            Promise.all(
                workers.map(async c => {
                    for (let i = 0; i < INCREMENTS; i++) await addToCounter(c, "bench:lua", 1);
                }),
            ),
        );
        log(
            `  locks: ${WORKERS} x ${INCREMENTS} increments: WATCH/MULTI ${watchMs.toFixed(0)} ms (${watchAttempts} attempts), Lua ${luaMs.toFixed(0)} ms`,
        );

        const quorum = await Promise.all(q.nodes.map(node));
        clients.push(...quorum);
        const opts = { retries: 2, retryDelayMs: 10, instanceTimeoutMs: 100 };
        const acquireRounds = async () => {
            const ms: number[] = [];
            for (let i = 0; i < ROUNDS; i++) {
                let acquired = false;
                ms.push(
                    await timed(async () => {
                        const lock = await redlock(quorum, "bench:lock", 1000, opts);
                        acquired = lock.acquired;
                        if (acquired) await lock.release();
                    }),
                );
                if (!acquired) throw new Error("a free lock was not acquired");
            }
            return { median: median(ms), p95: p95(ms), rounds: ROUNDS };
        };
        const all = await acquireRounds();
        docker("stop", "-t", "2", q.nodes[4].name);
        const four = await acquireRounds();
        docker("stop", "-t", "2", q.nodes[3].name, q.nodes[2].name);
        const giveUpMs = await timed(async () => {
            if ((await redlock(quorum, "bench:lock", 1000, opts)).acquired) throw new Error("a lock with 2 of 5 nodes up");
        });
        log(
            `  locks: redlock acquire median ${all.median.toFixed(1)} ms with 5/5 up, ${four.median.toFixed(1)} ms with 4/5; gives up after ${giveUpMs.toFixed(0)} ms with 2/5`,
        );
        return { acquire: { "5/5": all, "4/5": four }, giveUpMs, watchMs, watchAttempts, luaMs };
    } finally {
        await Promise.all(clients.map(c => c.quit().catch(() => c.disconnect())));
        await stack.destroy().catch(() => undefined);
    }
}

/** The section of results.md. */
export function locksSection(t: LockTimes | undefined, error: string): string {
    if (!t) return `Not measured: ${error}.`;
    const a = t.acquire;
    return `| measurement | median | p95 |
|---|---|---|
| Redlock acquire + release, a free lock, 5/5 nodes up (${a["5/5"].rounds} rounds) | ${a["5/5"].median.toFixed(1)} ms | ${a["5/5"].p95.toFixed(1)} ms |
| the same, 4/5 up (one stopped) | ${a["4/5"].median.toFixed(1)} ms | ${a["4/5"].p95.toFixed(1)} ms |
| Redlock giving up with 2/5 up (3 attempts) | ${t.giveUpMs.toFixed(0)} ms | |
| ${WORKERS} workers x ${INCREMENTS} WATCH/MULTI increments of one key | ${t.watchMs.toFixed(0)} ms (${t.watchAttempts} attempts for ${WORKERS * INCREMENTS} commits) | |
| the same with a Lua read-modify-write | ${t.luaMs.toFixed(0)} ms (no retries) | |`;
}

if (require.main === module) {
    const scope = new Scope();
    benchLocks(scope, process.argv[2] ?? freeSubnets(1)[0], console.log)
        .then(t => console.log(`\n${locksSection(t, "")}`))
        .catch(e => {
            console.error(e);
            process.exitCode = 1;
        })
        .finally(() => cleanupScope(scope));
}
