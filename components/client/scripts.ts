// Lua scripts run through ioredis defineCommand: EVALSHA first, EVAL on NOSCRIPT, so a restarted or flushed
// server just gets the script again. Each script is defined once per client, on first use.
import type { Cluster, Redis } from "ioredis";

/** A single node (plain, TLS or through spiped) or a Cluster client. */
export type Client = Redis | Cluster;

export interface Script {
    /** Method name on the client; prefixed so it cannot shadow an ioredis command. */
    name: string;
    /** How many of the arguments are keys (all keys must share one hash slot on a cluster). */
    keys: number;
    lua: string;
}

export async function runScript(client: Client, s: Script, keys: string[], args: (string | number)[] = []): Promise<unknown> {
    if (keys.length !== s.keys) throw new Error(`script ${s.name} takes ${s.keys} key(s); got ${keys.length}`);
    const methods = client as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>;
    if (typeof methods[s.name] !== "function") client.defineCommand(s.name, { numberOfKeys: s.keys, lua: s.lua });
    return methods[s.name](...keys, ...args);
}

export function positiveInt(field: string, v: number): number {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${field} must be a positive integer; got ${JSON.stringify(v)}`);
    return v;
}

export const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms));
