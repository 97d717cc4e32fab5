// Converges a live Redis Cluster to its plan: MEET, ADDSLOTS, REPLICATE, failing back a promoted replica, moving
// slots to their planned owners (scale out/in, half-done migrations) and removing nodes the plan no longer has.
// Safe to re-run: each phase takes a snapshot of the live cluster (./snapshot), asks a pure planner what differs from
// the plan and carries out only that; a phase that waits for gossip takes new snapshots until the cluster has moved.
import * as wire from "../redis/wire";
import { LiveSlots, rangesText, SlotMove, slotMoves, slotOwners } from "./slots";
import {
    BootstrapNode,
    failbacks,
    forgets,
    freshNodes,
    hasLiveReplica,
    meetsNeeded,
    meshComplete,
    openSlots,
    plannedOwners,
    removalCandidates,
    replicaFixes,
    replicaLinked,
    Snapshot,
    slotMapAgreement,
    slotsOwnedBy,
    slotsToAdd,
    Target,
    unplannedNodes,
} from "./snapshot";

export type { BootstrapNode } from "./snapshot";

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

type Client = wire.RedisClient;

/** Redis abandons a manual failover after 5 s (CLUSTER_MF_TIMEOUT); converge asks again after this long. */
const MANUAL_FAILOVER_RETRY_MS = 6000;

/** What a user reads when a planned node does not answer: the node, the likely cause and the fix. */
export function unreachableNode(n: { name: string; ip: string; port: number }, lastError: string): string {
    return (
        `cluster node ${n.name} does not answer at ${n.ip}:${n.port} (${lastError}). Its container is most likely stopped or ` +
        "was removed outside Pulumi, which the stored state cannot know: run `pulumi up --refresh` (or set `options: refresh: always` " +
        `in Pulumi.yaml) so Pulumi starts it again. If it is running, read \`docker logs ${n.name}\` and check that this machine routes to ${n.ip} ` +
        `and that its host's firewall lets this machine reach port ${n.port} (README: Firewall on the Redis hosts).`
    );
}

/** What every phase works with: the plan with live ids, the open clients, the deadline and the log of actions. */
interface Context {
    target: Target;
    auth: wire.Auth;
    opts: wire.ConnectOptions;
    timeout: number;
    /** A client per planned node, by name. */
    clients: Map<string, Client>;
    /** Live nodes the plan no longer has that answer at their address: the ones being scaled away, by node id. */
    removed: Map<string, { client: Client; ep: wire.Endpoint }>;
    actions: string[];
}

export async function converge(input: ConvergeInput): Promise<ConvergeResult> {
    const timeout = input.timeoutMs ?? 60_000;
    const opts: wire.ConnectOptions = { auth: input.auth, tls: input.tls };
    const ctx: Context = {
        target: { nodes: input.nodes, ids: {} },
        auth: input.auth,
        opts,
        timeout,
        clients: new Map(),
        removed: new Map(),
        actions: [],
    };
    try {
        await connectAll(ctx);
        for (const n of input.nodes) ctx.target.ids[n.name] = await wire.myId(client(ctx, n.name));
        // A distinct config epoch per fresh node (only nodes that know nobody accept it).
        for (const f of freshNodes(ctx.target, await snapshot(ctx))) await wire.setConfigEpoch(client(ctx, f.name), f.epoch);
        await forgetUnplanned(ctx);
        await meet(ctx);
        await addSlots(ctx);
        await wire.waitUntil("every node to know every other node", async () => meshComplete(ctx.target, await snapshot(ctx)), timeout);
        await fixRoles(ctx);
        await reshard(ctx);
        // A planned replica that kept slots for a node the plan dropped gives them up in reshard; its role is fixed now.
        await fixRoles(ctx);
        await removeScaledAway(ctx);
        await waitHealthy(ctx);
        return { nodeIds: ctx.target.ids, actions: ctx.actions };
    } finally {
        await Promise.all([...ctx.clients.values(), ...[...ctx.removed.values()].map(r => r.client)].map(wire.close));
    }
}

const client = (ctx: Context, name: string) => ctx.clients.get(name)!;

/** Records `what`, then does it. */
async function act(ctx: Context, what: string, f: () => Promise<unknown>): Promise<void> {
    ctx.actions.push(what);
    await f();
}

/** A node's name in the plan, or the address of a node being scaled away, or its id. */
function label(ctx: Context, id: string): string {
    const r = ctx.removed.get(id);
    return ctx.target.nodes.find(n => ctx.target.ids[n.name] === id)?.name ?? (r ? `${r.ep.host}:${r.ep.port}` : id);
}

/** The planned nodes' clients by node id in plan order, then (with `scaledAway`) the nodes being scaled away. */
function clientsById(ctx: Context, scaledAway: boolean): Map<string, Client> {
    return new Map([
        ...ctx.target.nodes.map(n => [ctx.target.ids[n.name], client(ctx, n.name)] as const),
        ...(scaledAway ? [...ctx.removed].map(([id, r]) => [id, r.client] as const) : []),
    ]);
}

/** A new snapshot: every planned node's CLUSTER NODES (and, with `scaledAway`, those of the nodes being scaled away). */
async function snapshot(ctx: Context, scaledAway = false): Promise<Snapshot> {
    const clients = [...clientsById(ctx, scaledAway)];
    const views = await Promise.all(clients.map(([, c]) => wire.clusterNodes(c)));
    return new Map(clients.map(([id], i) => [id, views[i]]));
}

/** Connects to every planned node; containers may still be starting, so retries until the deadline. */
async function connectAll(ctx: Context): Promise<void> {
    await Promise.all(
        ctx.target.nodes.map(async n => {
            let lastError = "";
            await wire
                .waitUntil(
                    `node ${n.name} at ${n.ip}:${n.port}`,
                    async () => {
                        try {
                            ctx.clients.set(n.name, await wire.connect({ host: n.ip, port: n.port }, ctx.opts));
                            return true;
                        } catch (e) {
                            lastError = (e as Error).message;
                            return lastError;
                        }
                    },
                    Math.min(ctx.timeout, 20_000),
                    100,
                )
                .catch(() => {
                    throw new Error(unreachableNode(n, lastError));
                });
        }),
    );
}

/**
 * Nodes the cluster knows that the plan does not. Those answering at their address are being scaled away (Pulumi
 * deletes their containers after this update): they keep their slots until these have moved (ctx.removed).
 * Unreachable ones (e.g. the old id of a recreated container) are forgotten, unless they still own slots.
 */
async function forgetUnplanned(ctx: Context): Promise<void> {
    const unplanned = unplannedNodes(ctx.target, await snapshot(ctx));
    for (const v of removalCandidates(ctx.target, unplanned)) {
        const c = await wire.connect({ host: v.ip, port: v.port }, { ...ctx.opts, connectTimeoutMs: 2000 }).catch(() => undefined);
        if (c && (await wire.myId(c).catch(() => "")) === v.id) ctx.removed.set(v.id, { client: c, ep: { host: v.ip, port: v.port } });
        else if (c) await wire.close(c);
    }
    const ghosts = new Set([...unplanned.keys()].filter(id => !ctx.removed.has(id)));
    const ghostSlots = async () => slotsOwnedBy(ctx.target, await snapshot(ctx), ghosts);
    if ((await ghostSlots()).size) {
        // A replica of the lost node may be about to take over its slots; without one, forgetting it loses them.
        if (hasLiveReplica(ctx.target, await snapshot(ctx), ghosts)) {
            await wire
                .waitUntil(
                    "a replica to take over the slots of an unreachable node",
                    async () => (await ghostSlots()).size === 0,
                    ctx.timeout,
                )
                .catch(() => undefined);
        }
        const stranded = await ghostSlots();
        if (stranded.size) {
            throw new Error(
                [...stranded]
                    .map(
                        ([id, slots]) =>
                            `node ${id} (${unplanned.get(id)!.ip}:${unplanned.get(id)!.port}) is not in the plan, ` +
                            `does not answer, and owns slots ${rangesText(slots)}`,
                    )
                    .join("; ") +
                    ": not forgetting it, its keys would be lost. Bring it back (its slots then move to their planned owners) or let a replica take over.",
            );
        }
    }
    for (const f of forgets(ctx.target, await snapshot(ctx), ghosts)) {
        await act(ctx, `${f.name}: CLUSTER FORGET ${f.id}`, () => wire.forget(client(ctx, f.name), f.id).catch(() => undefined));
    }
}

/** MEET: every pair of nodes that do not know each other yet meets directly (not one hub plus gossip), so the mesh
 *  forms in one handshake round instead of several gossip rounds. */
async function meet(ctx: Context): Promise<void> {
    const meets = meetsNeeded(ctx.target, await snapshot(ctx));
    const byNode = new Map<string, typeof meets>();
    for (const m of meets) byNode.set(m.name, [...(byNode.get(m.name) ?? []), m]);
    await Promise.all(
        [...byNode].map(async ([name, list]) => {
            for (const { peer: p } of list)
                await act(ctx, `${name}: CLUSTER MEET ${p.ip}:${p.port}`, () => wire.meet(client(ctx, name), p.ip, p.port, p.busPort));
        }),
    );
}

/** ADDSLOTS: each planned master takes the slots of its range that nobody owns yet. */
async function addSlots(ctx: Context): Promise<void> {
    for (const a of slotsToAdd(ctx.target, await snapshot(ctx))) {
        await act(ctx, `${a.name}: CLUSTER ADDSLOTSRANGE ${a.ranges.map(r => r.join("-")).join(" ")}`, () =>
            wire.addSlotRanges(client(ctx, a.name), a.ranges),
        );
    }
}

/** Roles: fail back promoted replicas first, then (on a new snapshot) point every replica at its planned master. */
async function fixRoles(ctx: Context): Promise<void> {
    const snap = await snapshot(ctx);
    const back = failbacks(ctx.target, snap);
    for (const name of back) await failBack(ctx, name);
    // A failback moves roles: the replicas are judged on a new snapshot.
    for (const r of replicaFixes(ctx.target, back.length ? await snapshot(ctx) : snap)) {
        await wire.waitUntil(
            `${r.name} to know master ${r.masterName}`,
            async () => {
                try {
                    await wire.replicate(client(ctx, r.name), r.masterId);
                    return true;
                } catch (e) {
                    return (e as Error).message;
                }
            },
            ctx.timeout,
        );
        ctx.actions.push(`${r.name}: CLUSTER REPLICATE ${r.masterName}`);
    }
}

/**
 * The planned master `name` came back as its replica's replica: a planned failover restores the roles. Redis gives a
 * manual failover 5 s and never retries it: its request to the master can be lost on a cluster-bus link still
 * reconnecting after a network cut, and a node that won an election in the last 4 node timeouts starts no new one.
 * So ask again until it takes or the deadline passes.
 */
async function failBack(ctx: Context, name: string): Promise<void> {
    await act(ctx, `${name}: CLUSTER FAILOVER (back to master)`, () => wire.failover(client(ctx, name)));
    let asked = Date.now();
    await wire.waitUntil(
        `${name} to become master again`,
        async () => {
            if ((await wire.info(client(ctx, name), "replication")).role === "master") return true;
            if (Date.now() - asked < MANUAL_FAILOVER_RETRY_MS) return false;
            asked = Date.now();
            await act(ctx, `${name}: CLUSTER FAILOVER (asked again)`, () => wire.failover(client(ctx, name)));
            return false;
        },
        ctx.timeout,
    );
}

/** Whether every node (with `scaledAway`, the nodes being scaled away too) says cluster_state:ok and sees one slot map. */
async function slotMapAgreed(ctx: Context, scaledAway: boolean): Promise<true | string> {
    const clients = [...clientsById(ctx, scaledAway)];
    const reports = await Promise.all(
        clients.map(async ([id, c]) => ({
            name: label(ctx, id),
            state: (await wire.clusterInfo(c)).cluster_state,
            view: await wire.clusterNodes(c),
        })),
    );
    return slotMapAgreement(reports, id => label(ctx, id));
}

/** The slots as they are now on every reachable node: owners (as the first planned node sees them), open slots and
 *  which masters hold keys of each open slot. */
async function liveSlots(ctx: Context): Promise<{ masters: string[]; live: LiveSlots }> {
    const snap = await snapshot(ctx, true);
    const { masters, open } = openSlots(snap);
    const reach = clientsById(ctx, true);
    const holders = new Map<number, string[]>();
    for (const slot of new Set(open.map(o => o.slot))) {
        for (const id of masters)
            if ((await wire.countKeysInSlots(reach.get(id)!, [slot]))[0] > 0) holders.set(slot, [...(holders.get(slot) ?? []), id]);
    }
    return { masters, live: { owners: slotOwners(snap.get(ctx.target.ids[ctx.target.nodes[0].name])!), open, holders } };
}

/**
 * Slots: every slot to its planned owner, with its keys, and no slot left half-migrated, the way `redis-cli --cluster
 * reshard/fix` does: the target imports, the source migrates, keys go over with MIGRATE until none is left, then every
 * master learns the new owner; open slots are finished toward their planned owner or closed. Starts only when every
 * node agrees on the slot map with cluster_state:ok.
 */
async function reshard(ctx: Context): Promise<void> {
    const planned = plannedOwners(ctx.target);
    const plannedMasters = new Set(ctx.target.nodes.filter(n => n.role === "master").map(n => ctx.target.ids[n.name]));
    if (!slotMoves(planned, (await liveSlots(ctx)).live, plannedMasters).length) return;
    await wire.waitUntil(
        "every node to agree on the slot map with cluster_state:ok before moving slots",
        () => slotMapAgreed(ctx, true),
        ctx.timeout,
    );
    const { masters, live } = await liveSlots(ctx);
    for (const m of slotMoves(planned, live, plannedMasters)) await moveSlots(ctx, m, masters);
}

/** Carries out one move: opens the slots, drains their keys to the planned owner, announces it, closes the slots. */
async function moveSlots(ctx: Context, m: SlotMove, masters: string[]): Promise<void> {
    const reach = clientsById(ctx, true);
    const node = (id: string) => reach.get(id)!;
    const name = (id: string) => label(ctx, id);
    const from = reach.get(m.from);
    if (!from)
        throw new Error(`slots ${rangesText(m.slots)} belong to ${m.from}, which does not answer: cannot move them to ${name(m.to)}`);
    if (m.from !== m.to) {
        await wire.setSlots(node(m.to), m.slots, "IMPORTING", m.from);
        await wire.setSlots(from, m.slots, "MIGRATING", m.to);
    } else {
        // The owner takes stray keys back: while migrating it would answer their MIGRATE with ASK.
        await wire.setSlotsStable(node(m.to), m.slots);
    }
    let keys = 0;
    for (const h of m.drain) keys += await drainKeys(ctx, m, h);
    if (m.from !== m.to) {
        // The new owner first (it bumps its config epoch, so its claim wins), then the old one, then the rest.
        // A master that has just lost its last slot (a node being removed) turns into a replica and refuses
        // SETSLOT; it has learnt the new owner already.
        const tell = (id: string) =>
            wire.setSlots(node(id), m.slots, "NODE", m.to).catch(e => {
                if (!/only with masters/.test((e as Error).message)) throw e;
            });
        await tell(m.to);
        await tell(m.from);
        await Promise.all(masters.filter(id => id !== m.from && id !== m.to).map(tell));
        // Replicas learn it by gossip only. Until every node has, the next move must wait: a node still crediting
        // the old owner would, once that owner bumps its config epoch as a new target, send the new owner an
        // UPDATE handing these slots back, and the new owner would delete their keys.
        await wire.waitUntil(
            `every node to learn that ${name(m.to)} owns slots ${rangesText(m.slots)}`,
            () => slotMapAgreed(ctx, true),
            ctx.timeout,
        );
    }
    for (const id of m.stable) await wire.setSlotsStable(node(id), m.slots);
    const moved =
        m.from !== m.to ? `${name(m.from)} -> ${name(m.to)}: slots ${rangesText(m.slots)}` : `${name(m.to)}: slot ${rangesText(m.slots)}`;
    ctx.actions.push(
        `${moved}${keys || m.drain.length ? ` (${keys} keys moved)` : ""}${m.stable.length ? `, SETSLOT STABLE on ${m.stable.map(name).join(", ")}` : ""}`,
    );
}

/** MIGRATEs every key of the move's slots from node `h` to the move's target; returns how many went. */
async function drainKeys(ctx: Context, m: SlotMove, h: string): Promise<number> {
    const reach = clientsById(ctx, true);
    const source = reach.get(h)!;
    const to = ctx.target.nodes.find(n => ctx.target.ids[n.name] === m.to)!;
    // MIGRATE runs only where the slot is open: a node holding keys of a slot it does not own imports it.
    if (h !== m.from) await wire.setSlots(source, m.slots, "IMPORTING", m.from);
    let keys = 0;
    for (let pending = m.slots, last = ""; pending.length;) {
        const batch = await wire.keysInSlots(source, pending, 200);
        // Each round's keys differ from the last one's unless MIGRATE moves nothing: fail rather than spin.
        const seen = batch.map(k => (k.length ? `${k.length}:${k[0].toString("hex")}` : "")).join();
        if (seen.replace(/,/g, "") && seen === last)
            throw new Error(`keys of slots ${rangesText(pending)} on ${label(ctx, h)} do not move to ${label(ctx, m.to)}`);
        last = seen;
        // From the slot's owner REPLACE: clients write to the owner while a key is there, so its copy is the newest;
        // the target can hold one too only from a MIGRATE cut off after the target stored it (as redis-cli fix).
        await wire.migrateKeys(source, { host: to.ip, port: to.port }, ctx.auth, batch, { replace: h === m.from && m.from !== m.to });
        keys += batch.reduce((n, k) => n + k.length, 0);
        pending = pending.filter((_, i) => batch[i].length > 0);
    }
    return keys;
}

/** Nodes scaled away own no slots now: every planned node forgets them, then they are reset so that they do not
 *  gossip their way back in before their containers go. */
async function removeScaledAway(ctx: Context): Promise<void> {
    if (!ctx.removed.size) return;
    const snap = await snapshot(ctx);
    for (const id of ctx.removed.keys()) {
        for (const f of forgets(ctx.target, snap, new Set([id]))) {
            await act(ctx, `${f.name}: CLUSTER FORGET ${f.id} (${label(ctx, f.id)})`, () => wire.forget(client(ctx, f.name), f.id));
        }
    }
    for (const [id, r] of ctx.removed) await act(ctx, `${label(ctx, id)}: CLUSTER RESET`, () => wire.reset(r.client));
}

/** Healthy: every node reports cluster_state:ok, agrees on who owns which slot, and every replica's link to its master is up. */
async function waitHealthy(ctx: Context): Promise<void> {
    await wire.waitUntil(
        "cluster_state:ok on every node, one slot map and every replica linked",
        async () => {
            const agreed = await slotMapAgreed(ctx, false);
            if (agreed !== true) return agreed;
            for (const n of ctx.target.nodes.filter(p => p.role === "replica")) {
                const linked = replicaLinked(n.name, await wire.info(client(ctx, n.name), "replication"));
                if (linked !== true) return linked;
            }
            return true;
        },
        ctx.timeout,
    );
}
