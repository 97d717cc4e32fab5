// Converges a live Redis Cluster to its plan: MEET, ADDSLOTS, REPLICATE, failing back a promoted replica, moving
// slots to their planned owners (scale out/in, half-done migrations) and removing nodes the plan no longer has.
// Safe to re-run: every step reads CLUSTER NODES first and acts only on what differs from the plan.
import * as wire from "../redis/wire";
import type { PlannedNode } from "./plan";
import { LiveSlots, rangesOf, rangesText, slotMoves, slotOwners } from "./slots";

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

/** What a user reads when a planned node does not answer: the node, the likely cause and the fix. */
export function unreachableNode(n: { name: string; ip: string; port: number }, lastError: string): string {
    return `cluster node ${n.name} does not answer at ${n.ip}:${n.port} (${lastError}). Its container is most likely stopped or ` +
        "was removed outside Pulumi, which the stored state cannot know: run `pulumi up --refresh` (or set `options: refresh: always` " +
        `in Pulumi.yaml) so Pulumi starts it again. If it is running, read \`docker logs ${n.name}\` and check that this machine routes to ${n.ip} ` +
        `and that its host's firewall lets this machine reach port ${n.port} (README: Firewall on the Redis hosts).`;
}

export async function converge(input: ConvergeInput): Promise<ConvergeResult> {
    const timeout = input.timeoutMs ?? 60_000;
    const opts: wire.ConnectOptions = { auth: input.auth, tls: input.tls };
    const clients = new Map<string, Client>();
    /** Live nodes the plan no longer has that answer at their address: the ones being scaled away, by node id. */
    const removed = new Map<string, { client: Client; ep: wire.Endpoint }>();
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
            }, Math.min(timeout, 20_000), 100).catch(() => { throw new Error(unreachableNode(n, lastError)); });
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

        // Nodes the cluster knows that the plan does not. Those answering at their address are being scaled away
        // (Pulumi deletes their containers after this update): they keep their slots until these have moved.
        // Unreachable ones (e.g. the old id of a recreated container) are forgotten, unless they still own slots.
        const unplanned = new Map<string, wire.ClusterNodeView>();
        for (const n of input.nodes) for (const v of await wire.clusterNodes(c(n.name))) if (!planned.has(v.id)) unplanned.set(v.id, v);
        const plannedAddresses = new Set(input.nodes.map(n => `${n.ip}:${n.port}`));
        for (const v of unplanned.values()) {
            if (!v.ip || plannedAddresses.has(`${v.ip}:${v.port}`)) continue;
            const client = await wire.connect({ host: v.ip, port: v.port }, { ...opts, connectTimeoutMs: 2000 }).catch(() => undefined);
            if (client && await wire.myId(client).catch(() => "") === v.id) removed.set(v.id, { client, ep: { host: v.ip, port: v.port } });
            else if (client) await wire.close(client);
        }
        const ghosts = new Set([...unplanned.keys()].filter(id => !removed.has(id)));
        const ghostSlots = async () => {
            const out = new Map<string, number[]>();
            for (const n of input.nodes) {
                slotOwners(await wire.clusterNodes(c(n.name))).forEach((id, s) => { if (id && ghosts.has(id)) out.set(id, [...(out.get(id) ?? []), s]); });
            }
            return out;
        };
        if ((await ghostSlots()).size) {
            // A replica of the lost node may be about to take over its slots; without one, forgetting it loses them.
            const views = await Promise.all(input.nodes.map(n => wire.clusterNodes(c(n.name))));
            const replicated = views.flat().some(v => v.masterId && ghosts.has(v.masterId) && !v.flags.includes("fail"));
            if (replicated) await wire.waitUntil("a replica to take over the slots of an unreachable node", async () => (await ghostSlots()).size === 0, timeout).catch(() => undefined);
            const stranded = await ghostSlots();
            if (stranded.size) {
                throw new Error([...stranded].map(([id, slots]) => `node ${id} (${unplanned.get(id)!.ip}:${unplanned.get(id)!.port}) is not in the plan, `
                    + `does not answer, and owns slots ${rangesText(slots)}`).join("; ")
                    + ": not forgetting it, its keys would be lost. Bring it back (its slots then move to their planned owners) or let a replica take over.");
            }
        }
        for (const n of input.nodes) {
            for (const g of await wire.clusterNodes(c(n.name))) {
                if (ghosts.has(g.id)) {
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

        // Roles: fail back promoted replicas first, then point every replica at its planned master. A planned replica
        // that owns slots its planned master never had (it took over for a node the plan dropped) keeps them until
        // they have moved to their planned owners, so roles run again after the slots.
        const roles = async () => {
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
                if (me.slots.length) continue;
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
        };
        await roles();

        // Slots: every slot to its planned owner, with its keys, and no slot left half-migrated.
        const reachable = new Map<string, Client>([...input.nodes.map(n => [ids[n.name], c(n.name)] as const), ...[...removed].map(([id, r]) => [id, r.client] as const)]);
        const endpoints = new Map(input.nodes.map(n => [ids[n.name], { host: n.ip, port: n.port }]));
        const label = (id: string) => {
            const r = removed.get(id);
            return input.nodes.find(n => ids[n.name] === id)?.name ?? (r ? `${r.ep.host}:${r.ep.port}` : id);
        };
        const plannedOwner: (string | undefined)[] = new Array(16384).fill(undefined);
        for (const m of input.nodes.filter(n => n.role === "master" && n.slots)) for (let s = m.slots![0]; s <= m.slots![1]; s++) plannedOwner[s] = ids[m.name];
        actions.push(...await reshard(reachable, endpoints, plannedOwner, input, ids, label, timeout));
        await roles();

        // Nodes scaled away own no slots now: every planned node forgets them, then they are reset so that they
        // do not gossip their way back in before their containers go.
        for (const id of removed.keys()) {
            for (const n of input.nodes) {
                if ((await wire.clusterNodes(c(n.name))).some(v => v.id === id)) await act(`${n.name}: CLUSTER FORGET ${id} (${label(id)})`, () => wire.forget(c(n.name), id));
            }
        }
        for (const [id, r] of removed) await act(`${label(id)}: CLUSTER RESET`, () => wire.reset(r.client));

        // Healthy: every node reports cluster_state:ok, agrees on who owns which slot, and every replica's link to its master is up.
        await wire.waitUntil("cluster_state:ok on every node, one slot map and every replica linked", async () => {
            const agreed = await slotMapAgreed(input.nodes.map(n => [n.name, c(n.name)]), label);
            if (agreed !== true) return agreed;
            for (const n of input.nodes) {
                if (n.role === "replica") {
                    const ri = await wire.info(c(n.name), "replication");
                    if (ri.role !== "slave" || ri.master_link_status !== "up") return `${n.name}: role ${ri.role}, master link ${ri.master_link_status}`;
                }
            }
            return true;
        }, timeout);
        return { nodeIds: ids, actions };
    } finally {
        await Promise.all([...clients.values(), ...[...removed.values()].map(r => r.client)].map(wire.close));
    }
}

/** true when every node says cluster_state:ok and sees the slot owners the first one sees; else the first difference. */
async function slotMapAgreed(nodes: [string, Client][], label: (id: string) => string): Promise<true | string> {
    let reference: (string | undefined)[] | undefined;
    for (const [name, c] of nodes) {
        const ci = await wire.clusterInfo(c);
        if (ci.cluster_state !== "ok") return `${name}: cluster_state ${ci.cluster_state}`;
        const owners = slotOwners(await wire.clusterNodes(c));
        const first = (reference ??= owners);
        const s = owners.findIndex((o, i) => o !== first[i]);
        if (s >= 0) return `${name} sees slot ${s} owned by ${label(owners[s] ?? "nobody")}, ${nodes[0][0]} by ${label(first[s] ?? "nobody")}`;
    }
    return true;
}

/**
 * Moves slots to their planned owners the way `redis-cli --cluster reshard/fix` does: the target imports, the source
 * migrates, keys go over with MIGRATE until none is left, then every master learns the new owner; open slots are
 * finished toward their planned owner or closed. Starts only when every node agrees on the slot map with
 * cluster_state:ok. Returns what it did.
 */
async function reshard(nodes: Map<string, Client>, endpoints: Map<string, wire.Endpoint>, planned: (string | undefined)[],
    input: ConvergeInput, ids: Record<string, string>, label: (id: string) => string, timeout: number): Promise<string[]> {
    const read = async () => {
        const masters: string[] = [];
        const open: LiveSlots["open"] = [];
        for (const [id, c] of nodes) {
            const me = (await wire.clusterNodes(c)).find(v => v.flags.includes("myself"))!;
            if (me.flags.includes("master")) masters.push(id);
            open.push(...me.openSlots.map(o => ({ id, ...o })));
        }
        const holders = new Map<number, string[]>();
        for (const slot of new Set(open.map(o => o.slot))) {
            for (const id of masters) if ((await wire.countKeysInSlots(nodes.get(id)!, [slot]))[0] > 0) holders.set(slot, [...(holders.get(slot) ?? []), id]);
        }
        return { masters, live: { owners: slotOwners(await wire.clusterNodes(nodes.get(ids[input.nodes[0].name])!)), open, holders } };
    };
    const plannedMasters = new Set(input.nodes.filter(n => n.role === "master").map(n => ids[n.name]));
    if (!slotMoves(planned, (await read()).live, plannedMasters).length) return [];

    // `nodes` starts with the planned nodes in plan order, so the first node's map is the reference.
    const settled = () => slotMapAgreed([...nodes].map(([id, c]) => [label(id), c]), label);
    await wire.waitUntil("every node to agree on the slot map with cluster_state:ok before moving slots", settled, timeout);

    const { masters, live } = await read();
    const actions: string[] = [];
    for (const m of slotMoves(planned, live, plannedMasters)) {
        const [from, to] = [nodes.get(m.from), nodes.get(m.to)!];
        if (!from) throw new Error(`slots ${rangesText(m.slots)} belong to ${m.from}, which does not answer: cannot move them to ${label(m.to)}`);
        if (m.from !== m.to) {
            await wire.setSlots(to, m.slots, "IMPORTING", m.from);
            await wire.setSlots(from, m.slots, "MIGRATING", m.to);
        } else {
            // The owner takes stray keys back: while migrating it would answer their MIGRATE with ASK.
            await wire.setSlotsStable(to, m.slots);
        }
        let keys = 0;
        for (const h of m.drain) {
            // MIGRATE runs only where the slot is open: a node holding keys of a slot it does not own imports it.
            if (h !== m.from) await wire.setSlots(nodes.get(h)!, m.slots, "IMPORTING", m.from);
            for (let pending = m.slots, last = ""; pending.length;) {
                const batch = await wire.keysInSlots(nodes.get(h)!, pending, 200);
                // Each round's keys differ from the last one's unless MIGRATE moves nothing: fail rather than spin.
                const seen = batch.map(k => (k.length ? `${k.length}:${k[0].toString("hex")}` : "")).join();
                if (seen.replace(/,/g, "") && seen === last) throw new Error(`keys of slots ${rangesText(pending)} on ${label(h)} do not move to ${label(m.to)}`);
                last = seen;
                // From the slot's owner REPLACE: clients write to the owner while a key is there, so its copy is the newest;
                // the target can hold one too only from a MIGRATE cut off after the target stored it (as redis-cli fix).
                await wire.migrateKeys(nodes.get(h)!, endpoints.get(m.to)!, input.auth, batch, { replace: h === m.from && m.from !== m.to });
                keys += batch.reduce((n, k) => n + k.length, 0);
                pending = pending.filter((_, i) => batch[i].length > 0);
            }
        }
        if (m.from !== m.to) {
            // The new owner first (it bumps its config epoch, so its claim wins), then the old one, then the rest.
            // A master that has just lost its last slot (a node being removed) turns into a replica and refuses
            // SETSLOT; it has learnt the new owner already.
            const tell = (id: string) => wire.setSlots(nodes.get(id)!, m.slots, "NODE", m.to)
                .catch(e => { if (!/only with masters/.test((e as Error).message)) throw e; });
            await tell(m.to);
            await tell(m.from);
            await Promise.all(masters.filter(id => id !== m.from && id !== m.to).map(tell));
            // Replicas learn it by gossip only. Until every node has, the next move must wait: a node still crediting
            // the old owner would, once that owner bumps its config epoch as a new target, send the new owner an
            // UPDATE handing these slots back, and the new owner would delete their keys.
            await wire.waitUntil(`every node to learn that ${label(m.to)} owns slots ${rangesText(m.slots)}`, settled, timeout);
        }
        for (const id of m.stable) await wire.setSlotsStable(nodes.get(id)!, m.slots);
        const moved = m.from !== m.to ? `${label(m.from)} -> ${label(m.to)}: slots ${rangesText(m.slots)}` : `${label(m.to)}: slot ${rangesText(m.slots)}`;
        actions.push(`${moved}${keys || m.drain.length ? ` (${keys} keys moved)` : ""}${m.stable.length ? `, SETSLOT STABLE on ${m.stable.map(label).join(", ")}` : ""}`);
    }
    return actions;
}
