// Atomic read-modify-write, two ways. optimisticTransaction: WATCH the keys, read, queue writes, EXEC; EXEC returns
// null if a watched key changed, and we retry with jittered backoff. Lua scripts: the logic runs inside Redis,
// atomically, with no retries (compareAndSet, addToCounter, decrementStock).
import type { ChainableCommander } from "ioredis";
import { Client, positiveInt, runScript, Script, sleep } from "./scripts";

export interface RetryOptions {
    /** Attempts before giving up (default 10). */
    maxAttempts?: number;
    /** First backoff ceiling; it doubles per attempt (default 5 ms). */
    baseDelayMs?: number;
    /** Backoff cap (default 1000 ms). */
    maxDelayMs?: number;
}

/** Queues the transaction's writes on `tx`; returned by the read step, or null/undefined to abort. */
export type Queue = (tx: ChainableCommander) => unknown;

export interface TxResult {
    committed: boolean;
    attempts: number;
    /** EXEC's replies, one per queued command (null unless committed). */
    result: unknown[] | null;
    /** True when the read step chose not to write. */
    aborted?: boolean;
}

/** "Full jitter" backoff: uniform in [0, min(cap, base * 2^(attempt-1))). */
export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number, rand = Math.random): number {
    return Math.floor(rand() * Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1)));
}

/**
 * WATCH keys -> read(client) -> MULTI, queued writes, EXEC; retried while EXEC reports a conflict.
 * WATCH belongs to the connection: give each concurrent transaction its own client (`client.duplicate()`).
 * On a cluster all keys must share one hash slot. Redis does not roll back: a command that fails inside
 * EXEC leaves the others applied; it is reported by throwing after the commit.
 */
export async function optimisticTransaction(
    client: Client,
    keys: string[],
    read: (c: Client) => Promise<Queue | null | undefined>,
    o: RetryOptions = {},
): Promise<TxResult> {
    const maxAttempts = positiveInt("maxAttempts", o.maxAttempts ?? 10);
    if (!keys.length) throw new Error("optimisticTransaction needs at least one key to WATCH");
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
        await client.watch(...keys);
        let queue: Queue | null | undefined;
        try {
            queue = await read(client);
        } catch (e) {
            await client.unwatch();
            throw e;
        }
        if (!queue) {
            await client.unwatch();
            return { committed: false, attempts: attempt, result: null, aborted: true };
        }
        const tx = client.multi();
        queue(tx); // ioredis buffers MULTI..EXEC until exec(), so nothing is sent if this throws.
        const replies = await tx.exec();
        if (replies) {
            const failed = replies.findIndex(([err]) => err);
            if (failed >= 0) throw new Error(`transaction committed but command ${failed} failed: ${replies[failed][0]!.message}`);
            return { committed: true, attempts: attempt, result: replies.map(([, v]) => v) };
        }
        if (attempt < maxAttempts) await sleep(backoffDelay(attempt, o.baseDelayMs ?? 5, o.maxDelayMs ?? 1000));
    }
    return { committed: false, attempts: maxAttempts, result: null };
}

const CAS: Script = {
    name: "rstCompareAndSet",
    keys: 1,
    lua: `
local v = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if v ~= tonumber(ARGV[1]) then return {0, v} end
redis.call('HSET', KEYS[1], 'version', v + 1, 'value', ARGV[2])
return {1, v + 1}`,
};

/** A hash {version, value}; a missing key is version 0. */
export interface Versioned {
    version: number;
    value: string | null;
}

export async function readVersioned(client: Client, key: string): Promise<Versioned> {
    const [version, value] = await client.hmget(key, "version", "value");
    return { version: Number(version ?? 0), value };
}

/** Sets value and bumps the version only if the stored version is `expectedVersion`; returns the version now stored. */
export async function compareAndSet(
    client: Client,
    key: string,
    expectedVersion: number,
    newValue: string,
): Promise<{ ok: boolean; version: number }> {
    const [ok, version] = (await runScript(client, CAS, [key], [expectedVersion, newValue])) as [number, number];
    return { ok: ok === 1, version };
}

const ADD: Script = {
    name: "rstAddToCounter",
    keys: 1,
    // Deliberately read-modify-write (not INCRBY), the same logic the WATCH variant runs from the client.
    lua: `
local n = tonumber(redis.call('GET', KEYS[1]) or '0') + tonumber(ARGV[1])
redis.call('SET', KEYS[1], n)
return n`,
};

export async function addToCounter(client: Client, key: string, by = 1): Promise<number> {
    return Number(await runScript(client, ADD, [key], [by]));
}

const DECREMENT_STOCK: Script = {
    name: "rstDecrementStock",
    keys: 1,
    lua: `
local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
local qty = tonumber(ARGV[1])
if stock < qty then return -1 end
return redis.call('DECRBY', KEYS[1], qty)`,
};

/** Takes `qty` from the stock counter unless that would go below 0; returns what remains, or -1 if refused. */
export async function decrementStock(client: Client, key: string, qty: number): Promise<number> {
    return Number(await runScript(client, DECREMENT_STOCK, [key], [positiveInt("qty", qty)]));
}
