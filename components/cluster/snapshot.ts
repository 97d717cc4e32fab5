// The live cluster as converge() sees it at one moment (every node's CLUSTER NODES), and the pure planners that
// compare it with the plan: which nodes to MEET, which slots to add, which roles to fix, which unplanned nodes to
// forget, which slots stay with an unreachable node. converge() takes a snapshot, asks a planner, runs what it says;
// after a change the cluster must spread by gossip, it takes a new snapshot. The planners are unit-tested on recorded
// CLUSTER NODES texts (test/unit/fixtures/cluster-nodes), as redis-cli's cluster manager loads its model once per step.
import type { ClusterNodeView } from "../redis/wire";
import type { PlannedNode } from "./plan";
import { LiveSlots, rangesOf, slotOwners } from "./slots";

/** A planned node as the bootstrap needs it: where to reach it and its role; placement stays with the plan. */
export type BootstrapNode = Omit<PlannedNode, "host">;

/** The plan with each planned node's live id (CLUSTER MYID): what the planners hold a snapshot against. */
export interface Target {
    nodes: BootstrapNode[];
    /** Node id by planned name. */
    ids: Record<string, string>;
}

/** Every node's CLUSTER NODES at one moment, by node id: the planned nodes in plan order, then any others read. */
export type Snapshot = Map<string, ClusterNodeView[]>;

/** The line a node's own view has about itself. */
export function self(view: ClusterNodeView[]): ClusterNodeView {
    const me = view.find(v => v.flags.includes("myself"));
    if (!me) throw new Error("CLUSTER NODES has no line flagged myself");
    return me;
}

/** The view of the planned node `name`. */
export function viewOf(t: Target, snap: Snapshot, name: string): ClusterNodeView[] {
    const view = snap.get(t.ids[name]);
    if (!view) throw new Error(`no CLUSTER NODES of ${name} in the snapshot`);
    return view;
}

/** Planned nodes that know nobody and own no slot, with the distinct config epoch each gets (plan order + 1). */
export function freshNodes(t: Target, snap: Snapshot): { name: string; epoch: number }[] {
    return t.nodes.flatMap((n, i) => {
        const view = viewOf(t, snap, n.name);
        return view.length === 1 && view[0].slots.length === 0 ? [{ name: n.name, epoch: i + 1 }] : [];
    });
}

/** Nodes some planned node knows that the plan does not have, by id (the line of the last view that has it). */
export function unplannedNodes(t: Target, snap: Snapshot): Map<string, ClusterNodeView> {
    const planned = new Set(Object.values(t.ids));
    const out = new Map<string, ClusterNodeView>();
    for (const n of t.nodes) for (const v of viewOf(t, snap, n.name)) if (!planned.has(v.id)) out.set(v.id, v);
    return out;
}

/** Unplanned nodes worth asking whether they still answer (being scaled away): those with an address no planned node has. */
export function removalCandidates(t: Target, unplanned: Map<string, ClusterNodeView>): ClusterNodeView[] {
    const plannedAddresses = new Set(t.nodes.map(n => `${n.ip}:${n.port}`));
    return [...unplanned.values()].filter(v => v.ip && !plannedAddresses.has(`${v.ip}:${v.port}`));
}

/** The slots each of `ids` owns in any planned node's view. */
export function slotsOwnedBy(t: Target, snap: Snapshot, ids: Set<string>): Map<string, number[]> {
    const out = new Map<string, Set<number>>();
    for (const n of t.nodes) {
        slotOwners(viewOf(t, snap, n.name)).forEach((id, s) => {
            if (id && ids.has(id)) out.set(id, (out.get(id) ?? new Set()).add(s));
        });
    }
    return new Map([...out].map(([id, slots]) => [id, [...slots].sort((a, b) => a - b)]));
}

/** Whether a replica that is not failed follows one of `ids` in some planned node's view (it may take over its slots). */
export function hasLiveReplica(t: Target, snap: Snapshot, ids: Set<string>): boolean {
    return t.nodes.some(n => viewOf(t, snap, n.name).some(v => v.masterId && ids.has(v.masterId) && !v.flags.includes("fail")));
}

/** The CLUSTER FORGET calls that make every planned node forget `ids`: each node forgets those it still knows. */
export function forgets(t: Target, snap: Snapshot, ids: Set<string>): { name: string; id: string }[] {
    return t.nodes.flatMap(n =>
        viewOf(t, snap, n.name)
            .filter(v => ids.has(v.id))
            .map(v => ({ name: n.name, id: v.id })),
    );
}

/** The MEETs still needed: every pair of planned nodes where the earlier one does not know the later one. */
export function meetsNeeded(t: Target, snap: Snapshot): { name: string; peer: BootstrapNode }[] {
    return t.nodes.flatMap((n, i) => {
        const known = new Set(viewOf(t, snap, n.name).map(v => v.id));
        return t.nodes
            .slice(i + 1)
            .filter(p => !known.has(t.ids[p.name]))
            .map(peer => ({ name: n.name, peer }));
    });
}

/** For each planned master, the sub-ranges of its planned slots that no planned node's view gives an owner. */
export function slotsToAdd(t: Target, snap: Snapshot): { name: string; ranges: [number, number][] }[] {
    const owned = new Set<number>();
    for (const n of t.nodes)
        for (const v of viewOf(t, snap, n.name)) for (const [a, b] of v.slots) for (let s = a; s <= b; s++) owned.add(s);
    return t.nodes
        .filter(n => n.role === "master" && n.slots)
        .map(m => ({ name: m.name, ranges: rangesOf(m.slots!, s => !owned.has(s)) }))
        .filter(a => a.ranges.length);
}

/** true when every planned node knows every planned node and sees it connected (no handshake, noaddr or fail); else who is missing. */
export function meshComplete(t: Target, snap: Snapshot): true | string {
    for (const n of t.nodes) {
        const seen = new Set(
            viewOf(t, snap, n.name)
                .filter(v => v.connected || v.flags.includes("myself"))
                .filter(v => !v.flags.some(f => f === "handshake" || f === "noaddr" || f === "fail"))
                .map(v => v.id),
        );
        const missing = t.nodes.filter(p => !seen.has(t.ids[p.name])).map(p => p.name);
        if (missing.length) return `${n.name} does not see ${missing.join(", ")} yet`;
    }
    return true;
}

/** Planned masters that came back as the replica of their own planned replica: each asks for a failover (by name). */
export function failbacks(t: Target, snap: Snapshot): string[] {
    return t.nodes
        .filter(r => r.role === "replica")
        .flatMap(r => {
            const me = self(viewOf(t, snap, r.name));
            const master = self(viewOf(t, snap, r.masterName!));
            return master.masterId === t.ids[r.name] && me.flags.includes("master") ? [r.masterName!] : [];
        });
}

/**
 * Planned replicas that must be pointed at their planned master (CLUSTER REPLICATE). A replica that owns slots (it
 * took over for a node the plan dropped) keeps them until they have moved to their planned owners.
 */
export function replicaFixes(t: Target, snap: Snapshot): { name: string; masterName: string; masterId: string }[] {
    return t.nodes
        .filter(r => r.role === "replica")
        .flatMap(r => {
            const me = self(viewOf(t, snap, r.name));
            const masterId = t.ids[r.masterName!];
            if (me.slots.length || (me.masterId === masterId && !me.flags.includes("master"))) return [];
            return [{ name: r.name, masterName: r.masterName!, masterId }];
        });
}

/** The slot owner of every slot in the plan (planned master's id), undefined for none. */
export function plannedOwners(t: Target): (string | undefined)[] {
    return slotOwners(t.nodes.filter(n => n.role === "master" && n.slots).map(m => ({ id: t.ids[m.name], slots: [m.slots!] })));
}

/** What one node reports for the slot-map check: its CLUSTER INFO cluster_state and its CLUSTER NODES. */
export interface SlotMapReport {
    name: string;
    state: string | undefined;
    view: ClusterNodeView[];
}

/** true when every node says cluster_state:ok and sees the slot owners the first one sees; else the first difference. */
export function slotMapAgreement(reports: SlotMapReport[], label: (id: string) => string): true | string {
    let reference: (string | undefined)[] | undefined;
    for (const r of reports) {
        if (r.state !== "ok") return `${r.name}: cluster_state ${r.state}`;
        const owners = slotOwners(r.view);
        const first = (reference ??= owners);
        const s = owners.findIndex((o, i) => o !== first[i]);
        if (s >= 0)
            return `${r.name} sees slot ${s} owned by ${label(owners[s] ?? "nobody")}, ${reports[0].name} by ${label(first[s] ?? "nobody")}`;
    }
    return true;
}

/** true when a planned replica's INFO replication says it is a replica with its master link up; else what it says. */
export function replicaLinked(name: string, replication: Record<string, string>): true | string {
    return replication.role === "slave" && replication.master_link_status === "up"
        ? true
        : `${name}: role ${replication.role}, master link ${replication.master_link_status}`;
}

/** The slots each node of `snap` has open (its own `[s->-id]` / `[s-<-id]`), and which nodes are masters. */
export function openSlots(snap: Snapshot): { masters: string[]; open: LiveSlots["open"] } {
    const masters: string[] = [];
    const open: LiveSlots["open"] = [];
    for (const [id, view] of snap) {
        const me = self(view);
        if (me.flags.includes("master")) masters.push(id);
        open.push(...me.openSlots.map(o => ({ id, ...o })));
    }
    return { masters, open };
}
