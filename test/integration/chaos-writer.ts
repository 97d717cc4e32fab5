// The chaos suites' app writer and its tally (#19), shared by chaos.test.ts, chaos-disk.test.ts and
// chaos-engine.test.ts: a writer per shard with SET + WAIT 1 (bounded in count and time), and at the end of each
// case the count of writes WAIT 1 acknowledged that no longer read back (must be 0), of unacknowledged writes, failed
// commands, lost unacknowledged writes, and the longest gaps between accepted / acknowledged writes on the victim's
// shard (its unavailability).
import Redis, { Cluster } from "ioredis";
import type { ClientOptions } from "../../components/client";
import type { PlannedNode } from "../../components/cluster/plan";
import * as wire from "../../components/redis/wire";

/** Bounds of each case's writers: at most this many writes per shard, paced, and a hard stop. */
const MAX_WRITES_PER_SHARD = 6000;
const PACE_MS = 5;
const CASE_DEADLINE_MS = 150_000;

/** The app client's options in every case: a command fails after 3 s, it reconnects through long outages. */
export const WRITER_CLIENT: ClientOptions = { commandTimeoutMs: 3000, maxReconnects: 1000, maxRetriesPerRequest: 1 };

export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
/** Each key is written once, with a value of its own. */
const valueOf = (key: string) => `v:${key}`;

/** One write: when it was sent, whether SET answered OK (else its error), and what WAIT 1 answered. */
export interface Write {
    key: string;
    t: number;
    setOk: boolean;
    replicas: number;
    error?: string;
}
export interface Tally {
    case: string;
    writes: number;
    acked: number;
    unacked: number;
    failed: number;
    lostAcked: number;
    lostUnacked: number;
    lostUnackedWindowMs: number;
    victimSetGapMs: number;
    victimAckGapMs: number;
    errors: string[];
}
export type Writes = Map<string, Write[]>;
export const isAcked = (w: Write) => w.setOk && w.replicas >= 1;

/**
 * One writer per shard, each key written once: SET then WAIT 1 1000 in one pipeline, so both go to the key's node
 * on one connection, until stop() or the bounds. A failed write refreshes a cluster client's slot map (ioredis
 * does not on CLUSTERDOWN).
 */
export function startWriters(
    client: Cluster | Redis,
    keyOf: Map<string, (i: number) => string>,
): { stop: () => Promise<{ byShard: Writes; errors: string[] }> } {
    let stopped = false;
    const deadline = Date.now() + CASE_DEADLINE_MS;
    const errors = new Set<string>();
    const loops = [...keyOf].map(async ([shard, key]) => {
        const writes: Write[] = [];
        for (let i = 0; !stopped && i < MAX_WRITES_PER_SHARD && Date.now() < deadline; i++) {
            const w: Write = { key: key(i), t: Date.now(), setOk: false, replicas: 0 };
            try {
                const [[setErr, set] = [], [waitErr, replicas] = []] =
                    (await client.pipeline().set(w.key, valueOf(w.key)).call("WAIT", "1", "1000").exec()) ?? [];
                w.setOk = !setErr && set === "OK";
                w.replicas = waitErr ? 0 : Number(replicas);
                if (setErr) {
                    w.error = setErr.message;
                    errors.add(setErr.message.split(" ")[0]);
                }
            } catch (e) {
                w.error = (e as Error).message;
                errors.add(w.error.slice(0, 60));
            }
            writes.push(w);
            if (!w.setOk && client instanceof Cluster) client.refreshSlotsCache();
            await sleep(w.setOk ? PACE_MS : 100);
        }
        return [shard, writes] as const;
    });
    return {
        stop: async () => {
            stopped = true;
            return { byShard: new Map(await Promise.all(loops)), errors: [...errors] };
        },
    };
}

/** Which of `keys` hold their value on `client` (pipelined; keys of one hash tag share a slot). */
async function present(client: Cluster | Redis, keys: string[]): Promise<Set<string>> {
    const byTag = new Map<string, string[]>();
    for (const k of keys) {
        const tag = k.slice(0, k.indexOf("}") + 1);
        byTag.set(tag, [...(byTag.get(tag) ?? []), k]);
    }
    const found = new Set<string>();
    for (const group of byTag.values()) {
        for (let i = 0; i < group.length; i += 500) {
            const batch = group.slice(i, i + 500);
            const r = (await client.pipeline(batch.map(k => ["get", k])).exec()) ?? [];
            r.forEach(([err, v], j) => {
                if (err) throw err;
                if (v === valueOf(batch[j])) found.add(batch[j]);
            });
        }
    }
    return found;
}

/** A suite's tally: one row per case, printed as a table at the end (the README's durability table). */
export class ChaosTally {
    readonly rows: Tally[] = [];

    /** Fills the case's row: `acknowledged` (every case so far) and this case's writes against what `readers` all hold. */
    async account(
        caseId: string,
        victim: string,
        byShard: Writes,
        errors: string[],
        acknowledged: Set<string>,
        readers: (Cluster | Redis)[],
    ): Promise<Tally> {
        const all = [...byShard.values()].flat();
        for (const w of all.filter(isAcked)) acknowledged.add(w.key);
        const keys = [...new Set([...all.map(w => w.key), ...acknowledged])];
        const held = await Promise.all(readers.map(r => present(r, keys)));
        const kept = (k: string) => held.every(h => h.has(k));
        const lostAcked = [...acknowledged].filter(k => !kept(k));
        const unacked = all.filter(w => w.setOk && w.replicas < 1);
        const lostUnacked = unacked.filter(w => !kept(w.key));
        const victimWrites = byShard.get(victim) ?? [];
        const longestGap = (ts: number[]) => ts.slice(1).reduce((g, t, i) => Math.max(g, t - ts[i]), 0);
        const t: Tally = {
            case: caseId,
            writes: all.length,
            acked: all.filter(isAcked).length,
            unacked: unacked.length,
            failed: all.filter(w => !w.setOk).length,
            lostAcked: lostAcked.length,
            lostUnacked: lostUnacked.length,
            lostUnackedWindowMs: lostUnacked.length ? lostUnacked[lostUnacked.length - 1].t - lostUnacked[0].t : 0,
            victimSetGapMs: longestGap(victimWrites.filter(w => w.setOk).map(w => w.t)),
            victimAckGapMs: longestGap(victimWrites.filter(isAcked).map(w => w.t)),
            errors,
        };
        this.rows.push(t);
        console.log(`${caseId}: ${JSON.stringify(t)}${lostAcked.length ? ` first lost: ${lostAcked.slice(0, 5).join(", ")}` : ""}`);
        return t;
    }

    /**
     * Runs `fault` while `client` writes to every shard of `keyOf`; waits for `healed`, writes 2 s more, then checks
     * that writes went on on the victim's shard and that no acknowledged write is missing from any of `readers`.
     */
    async chaosCase(
        caseId: string,
        victim: string,
        o: {
            client: Cluster | Redis;
            keyOf: Map<string, (i: number) => string>;
            acknowledged: Set<string>;
            readers: () => Promise<(Cluster | Redis)[]>;
            fault: () => Promise<void>;
            healed: () => Promise<void>;
        },
    ): Promise<Tally & { byShard: Writes }> {
        const writers = startWriters(o.client, o.keyOf);
        await sleep(1500);
        await o.fault();
        await o.healed();
        const healedAt = Date.now();
        await sleep(2000);
        const { byShard, errors } = await writers.stop();
        const t = await this.account(caseId, victim, byShard, errors, o.acknowledged, await o.readers());
        expect(byShard.get(victim)!.filter(w => isAcked(w) && w.t >= healedAt).length).toBeGreaterThan(0);
        expect(t.lostAcked).toBe(0);
        return { ...t, byShard };
    }

    print(): void {
        const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
        const row = (t: Tally) =>
            `| ${t.case} | ${t.writes} | ${t.acked} | ${t.lostAcked} | ${t.unacked} | ${t.failed} | ${t.lostUnacked} (${s(t.lostUnackedWindowMs)}) | ${s(t.victimSetGapMs)} | ${s(t.victimAckGapMs)} |`;
        console.log(
            [
                "| case | writes | acked (WAIT 1 = 1) | acked lost | not acked | failed | not-acked lost (window) | victim: no write accepted | victim: no write acked |",
                "|---|---|---|---|---|---|---|---|---|",
                ...this.rows.map(row),
            ].join("\n"),
        );
    }
}

/** A hash tag per master (`prefix` + a number): every key `{tag}:...` of a shard's writer sits in that master's slots. */
export async function shardTags(plan: PlannedNode[], conn: wire.ConnectOptions, prefix: string): Promise<Map<string, string>> {
    const masters = plan.filter(n => n.role === "master");
    const tags = new Map<string, string>();
    await wire.withClient({ host: masters[0].ip, port: masters[0].port }, conn, async c => {
        for (const m of masters) {
            for (let i = 0; !tags.has(m.name); i++) {
                const slot = Number(await c.call("CLUSTER", "KEYSLOT", `{${prefix}${i}}`));
                if (slot >= m.slots![0] && slot <= m.slots![1]) tags.set(m.name, `${prefix}${i}`);
            }
        }
    });
    return tags;
}

/** A case's cluster writers: per master, keys `{tag}:<case>:<i>` in its slots (tags from shardTags). */
export const clusterKeys = (plan: PlannedNode[], tags: Map<string, string>, caseId: string): Map<string, (i: number) => string> =>
    new Map(plan.filter(n => n.role === "master").map(m => [m.name, (i: number) => `{${tags.get(m.name)}}:${caseId}:${i}`]));

/** Until every node answers with cluster_state ok, as many masters as planned, and every replica linked. */
export async function clusterHealthy(plan: PlannedNode[], conn: wire.ConnectOptions, timeoutMs = 90_000): Promise<void> {
    const planned = plan.filter(n => n.role === "master").length;
    await wire.waitUntil(
        `every node ok, ${planned} masters, every replica linked`,
        async () => {
            const reports = await Promise.all(plan.map(n => wire.readNode({ host: n.ip, port: n.port }, conn, 2000)));
            const bad = reports
                .map((r, i) =>
                    r.clusterInfo.cluster_state !== "ok"
                        ? `${plan[i].name}: ${r.clusterInfo.cluster_state}`
                        : r.replication.role === "slave" && r.replication.master_link_status !== "up"
                          ? `${plan[i].name}: link ${r.replication.master_link_status}`
                          : "",
                )
                .filter(Boolean);
            const roles = reports.filter(r => r.replication.role === "master").length;
            return (!bad.length && roles === planned) || `${bad.join(", ")} masters=${roles}`;
        },
        timeoutMs,
        200,
    );
}
