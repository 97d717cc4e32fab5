// Redlock over N independent masters: the same token SET NX PX on every instance, each call bounded by a short
// timeout so a dead instance costs milliseconds. Held if a majority said OK and time is left after subtracting the
// time spent and the clock drift allowance; otherwise released everywhere. An efficiency lock: for correctness
// pair it with fencing tokens checked by the protected resource (see README).
import { RELEASE, newToken } from "./locks";
import { Client, positiveInt, runScript, sleep } from "./scripts";

export interface RedlockOptions {
    /** Clock drift allowance as a fraction of the TTL (default 0.01). */
    driftFactor?: number;
    /** Further attempts after the first (default 3). */
    retries?: number;
    /** Delay between attempts: retryDelayMs plus up to retryJitterMs at random (defaults 100 and 100). */
    retryDelayMs?: number;
    retryJitterMs?: number;
    /** Per-instance timeout, small next to the TTL (default max(10, ttl / 20) ms). */
    instanceTimeoutMs?: number;
}

export interface RedlockResult {
    acquired: boolean;
    /** How long the lock is still safely held, from the moment redlock() returned (0 if not acquired). */
    validityMs: number;
    attempts: number;
    token: string;
    /** Removes the lock (by token) from every instance; resolves to how many removed it. */
    release(): Promise<number>;
}

/** Majority of n instances. */
export const quorum = (n: number) => Math.floor(n / 2) + 1;

/** ttl - elapsed - drift, with drift = round(ttl * driftFactor) + 2 ms (the Redlock reference arithmetic). */
export function redlockValidity(ttlMs: number, elapsedMs: number, driftFactor = 0.01): number {
    return ttlMs - elapsedMs - (Math.round(ttlMs * driftFactor) + 2);
}

export async function redlock(clients: Client[], resource: string, ttlMs: number, o: RedlockOptions = {}): Promise<RedlockResult> {
    positiveInt("ttlMs", ttlMs);
    if (clients.length < 3) throw new Error(`redlock needs at least 3 independent instances; got ${clients.length}`);
    const timeout = o.instanceTimeoutMs ?? Math.max(10, Math.floor(ttlMs / 20));
    const retries = o.retries ?? 3;
    const releaseAll = async (token: string) =>
        (
            await Promise.all(
                clients.map(c =>
                    within(runScript(c, RELEASE, [resource], [token]), timeout).then(
                        r => (r === 1 ? 1 : 0),
                        () => 0,
                    ),
                ),
            )
        ).reduce((a, b) => a + b, 0);

    let token = newToken();
    for (let attempt = 1; attempt <= retries + 1; attempt++) {
        token = newToken();
        const start = Date.now();
        const oks = await Promise.all(
            clients.map(c =>
                within(c.set(resource, token, "PX", ttlMs, "NX"), timeout).then(
                    r => r === "OK",
                    () => false,
                ),
            ),
        );
        const validityMs = redlockValidity(ttlMs, Date.now() - start, o.driftFactor ?? 0.01);
        if (oks.filter(Boolean).length >= quorum(clients.length) && validityMs > 0) {
            const held = token;
            return { acquired: true, validityMs, attempts: attempt, token, release: () => releaseAll(held) };
        }
        // Also clears instances that timed out but may have applied the SET.
        await releaseAll(token);
        if (attempt <= retries) await sleep((o.retryDelayMs ?? 100) + Math.floor(Math.random() * (o.retryJitterMs ?? 100)));
    }
    return { acquired: false, validityMs: 0, attempts: retries + 1, token, release: async () => 0 };
}

/** Rejects after `ms`; the late outcome of `p` is absorbed. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
    return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no reply within ${ms} ms`)), ms);
        p.then(
            v => {
                clearTimeout(t);
                resolve(v);
            },
            e => {
                clearTimeout(t);
                reject(e);
            },
        );
    });
}
