// Converges a live Redis Cluster to its plan: MEET, ADDSLOTS, REPLICATE, and failing back a promoted replica.
// Safe to re-run: every step reads CLUSTER NODES first and acts only on what differs from the plan.
import * as wire from "../redis/wire";
import type { PlannedNode } from "./plan";

/** A planned node as the bootstrap needs it: where to reach it and its role; placement stays with the plan. */
export type BootstrapNode = Omit<PlannedNode, "host">;

export interface ConvergeInput {
    nodes: BootstrapNode[];
    auth: wire.Auth;
    tls?: wire.TlsMaterial;
    /** How long to wait for nodes to answer, agree and link up (default 60 s). */
    timeoutMs?: number;
}

export interface ConvergeResult {
    nodeIds: Record<string, string>;
    /** What was done, in order; empty when the cluster already matched the plan. */
    actions: string[];
}

type Client = Awaited<ReturnType<typeof wire.connect>>;

/** Redis abandons a manual failover after 5 s (CLUSTER_MF_TIMEOUT); converge asks again after this long. */
const MANUAL_FAILOVER_RETRY_MS = 6000;

export async function converge(input: ConvergeInput): Promise<ConvergeResult> {
    const timeout = input.timeoutMs ?? 60_000;
    const opts: wire.ConnectOptions = { auth: input.auth, tls: input.tls };
    const clients = new Map<string, Client>();
    const actions: string[] = [];
    const act = async (what: string, f: () => Promise<unknown>) => { actions.push(what); await f(); };
    try {
        // Connect to every node; containers may still be starting, so retry until the deadline.
        await Promise.all(input.nodes.map(async n => {
            let lastError = "";
            await wire.waitUntil(`node ${n.name} at ${n.ip}:${n.port}`, async () => {
                try {
                    clients.set(n.name, await wire.connect({ host: n.ip, port: n.port }, opts));
                    return true;
                } catch (e) {
                    lastError = (e as Error).message;
                    return lastError;
                }
            }, Math.min(timeout, 20_000), 100).catch(() => { throw new Error(`cluster node ${n.name}: ${lastError}`); });
        }));
        const c = (name: string) => clients.get(name)!;
        const ids: Record<string, string> = {};
        for (const n of input.nodes) ids[n.name] = await wire.myId(c(n.name));
        const planned = new Set(Object.values(ids));

        // A distinct config epoch per fresh node (only nodes that know nobody accept it).
        for (const [i, n] of input.nodes.entries()) {
            const view = await wire.clusterNodes(c(n.name));
            if (view.length === 1 && view[0].slots.length === 0) await wire.setConfigEpoch(c(n.name), i + 1);
        }

        // Ghosts: node ids that are no planned node any more (e.g. the old id of a recreated container).
        for (const n of input.nodes) {
            for (const g of await wire.clusterNodes(c(n.name))) {
                if (!planned.has(g.id) && !g.flags.includes("myself")) {
                    await act(`${n.name}: CLUSTER FORGET ${g.id}`, () => wire.forget(c(n.name), g.id).catch(() => undefined));
                }
            }
        }

        // MEET: every pair of nodes that do not know each other yet meets directly (not one hub plus gossip),
        // so the mesh forms in one handshake round instead of several gossip rounds.
        await Promise.all(input.nodes.map(async (n, i) => {
            const known = new Set((await wire.clusterNodes(c(n.name))).map(v => v.id));
            for (const p of input.nodes.slice(i + 1)) {
                if (!known.has(ids[p.name])) await act(`${n.name}: CLUSTER MEET ${p.ip}:${p.port}`, () => wire.meet(c(n.name), p.ip, p.port, p.busPort));
            }
        }));

        // ADDSLOTS: each planned master takes the slots of its range that nobody owns yet.
        const owned = new Set<number>();
        for (const n of input.nodes) {
            for (const v of await wire.clusterNodes(c(n.name))) for (const [a, b] of v.slots) for (let s = a; s <= b; s++) owned.add(s);
        }
        for (const m of input.nodes.filter(n => n.role === "master" && n.slots)) {
            const missing = rangesOf(m.slots!, s => !owned.has(s));
            if (missing.length) await act(`${m.name}: CLUSTER ADDSLOTSRANGE ${missing.map(r => r.join("-")).join(" ")}`, () => wire.addSlotRanges(c(m.name), missing));
        }

        // Wait until every node knows every planned node and sees all of them connected.
        await wire.waitUntil("every node to know every other node", async () => {
            for (const n of input.nodes) {
                const view = await wire.clusterNodes(c(n.name));
                const seen = new Set(view.filter(v => v.connected || v.flags.includes("myself")).filter(v => !v.flags.some(f => f === "handshake" || f === "noaddr" || f === "fail")).map(v => v.id));
                const missing = input.nodes.filter(p => !seen.has(ids[p.name])).map(p => p.name);
                if (missing.length) return `${n.name} does not see ${missing.join(", ")} yet`;
            }
            return true;
        }, timeout);

        // Roles: fail back promoted replicas first, then point every replica at its planned master.
        for (const r of input.nodes.filter(n => n.role === "replica")) {
            const masterId = ids[r.masterName!];
            const self = async (name: string) => (await wire.clusterNodes(c(name))).find(v => v.flags.includes("myself"))!;
            let me = await self(r.name);
            const master = await self(r.masterName!);
            if (master.masterId === ids[r.name] && me.flags.includes("master")) {
                // The planned master came back as this node's replica: a planned failover restores the roles.
                // Redis gives a manual failover 5 s and never retries it: its request to the master can be lost on a
                // cluster-bus link still reconnecting after a network cut, and a node that won an election in the
                // last 4 node timeouts starts no new one. So ask again until it takes or the deadline passes.
                const back = r.masterName!;
                await act(`${back}: CLUSTER FAILOVER (back to master)`, () => wire.failover(c(back)));
                let asked = Date.now();
                await wire.waitUntil(`${back} to become master again`, async () => {
                    if ((await wire.info(c(back), "replication")).role === "master") return true;
                    if (Date.now() - asked < MANUAL_FAILOVER_RETRY_MS) return false;
                    asked = Date.now();
                    await act(`${back}: CLUSTER FAILOVER (asked again)`, () => wire.failover(c(back)));
                    return false;
                }, timeout);
                me = await self(r.name);
            }
            if (me.masterId !== masterId || me.flags.includes("master")) {
                await wire.waitUntil(`${r.name} to know master ${r.masterName}`, async () => {
                    try {
                        await wire.replicate(c(r.name), masterId);
                        return true;
                    } catch (e) {
                        return (e as Error).message;
                    }
                }, timeout);
                actions.push(`${r.name}: CLUSTER REPLICATE ${r.masterName}`);
            }
        }

        // Healthy: every node reports cluster_state:ok and every replica's link to its master is up.
        await wire.waitUntil("cluster_state:ok on every node and every replica linked", async () => {
            for (const n of input.nodes) {
                const ci = await wire.clusterInfo(c(n.name));
                if (ci.cluster_state !== "ok") return `${n.name}: cluster_state ${ci.cluster_state}`;
                if (n.role === "replica") {
                    const ri = await wire.info(c(n.name), "replication");
                    if (ri.role !== "slave" || ri.master_link_status !== "up") return `${n.name}: role ${ri.role}, master link ${ri.master_link_status}`;
                }
            }
            return true;
        }, timeout);
        return { nodeIds: ids, actions };
    } finally {
        await Promise.all([...clients.values()].map(wire.close));
    }
}

/** The sub-ranges of [a, b] whose slots pass `keep`. */
export function rangesOf([a, b]: [number, number], keep: (slot: number) => boolean): [number, number][] {
    const out: [number, number][] = [];
    for (let s = a; s <= b; s++) {
        if (!keep(s)) continue;
        const last = out[out.length - 1];
        if (last && last[1] === s - 1) last[1] = s;
        else out.push([s, s]);
    }
    return out;
}
