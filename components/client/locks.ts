// A lock on one Redis instance: SET NX PX with a random token, released or extended only by its holder (Lua
// compare-by-token). Each acquisition also INCRs `${resource}:fence` in the same script, so the fencing token
// is issued atomically with the lock; the protected resource checks it (fencedWrite) and refuses stale holders.
import * as crypto from "crypto";
import { Client, positiveInt, runScript, Script } from "./scripts";

export interface Lock {
    resource: string;
    token: string;
    /** Strictly increasing per resource: higher means a later acquisition. */
    fencingToken: number;
    /** True if this holder still held the lock and removed it. */
    release(): Promise<boolean>;
    /** Resets the TTL to `ttlMs`; true if this holder still held the lock. */
    extend(ttlMs: number): Promise<boolean>;
}

export const ACQUIRE: Script = {
    name: "rstAcquireLock",
    keys: 2,
    lua: `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return false`,
};

export const RELEASE: Script = {
    name: "rstReleaseLock",
    keys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
};

const EXTEND: Script = {
    name: "rstExtendLock",
    keys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`,
};

export const newToken = () => crypto.randomBytes(16).toString("hex");

/** Key of the fencing counter; on a cluster give `resource` a {hashtag} so both keys share a slot. */
export const fenceKey = (resource: string) => `${resource}:fence`;

/** The lock, or null if someone else holds it. */
export async function acquireLock(client: Client, resource: string, ttlMs: number): Promise<Lock | null> {
    const token = newToken();
    const fence = await runScript(client, ACQUIRE, [resource, fenceKey(resource)], [token, positiveInt("ttlMs", ttlMs)]);
    if (fence === null) return null;
    return {
        resource,
        token,
        fencingToken: Number(fence),
        release: async () => (await runScript(client, RELEASE, [resource], [token])) === 1,
        extend: async ms => (await runScript(client, EXTEND, [resource], [token, positiveInt("ttlMs", ms)])) === 1,
    };
}

const FENCED_WRITE: Script = {
    name: "rstFencedWrite",
    keys: 1,
    lua: `
local last = tonumber(redis.call('HGET', KEYS[1], 'fence') or '0')
if tonumber(ARGV[1]) <= last then return 0 end
redis.call('HSET', KEYS[1], 'fence', ARGV[1], 'value', ARGV[2])
return 1`,
};

/** Stores value with its fencing token unless a write with the same or a higher token already happened. */
export async function fencedWrite(client: Client, resourceKey: string, fencingToken: number, value: string): Promise<boolean> {
    return (await runScript(client, FENCED_WRITE, [resourceKey], [positiveInt("fencingToken", fencingToken), value])) === 1;
}

export async function readFenced(client: Client, resourceKey: string): Promise<{ fence: number; value: string | null }> {
    const [fence, value] = await client.hmget(resourceKey, "fence", "value");
    return { fence: Number(fence ?? 0), value };
}
