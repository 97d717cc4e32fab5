// The live cluster against its plan: readCluster() asks every node what it is (read-only, short timeouts) and
// drift() lists, in words, where the answers differ from the plan. A node that does not answer is unknown, not
// drift, so a preview run away from the nodes finds nothing. Used by the bootstrap's diff/read and by the guard.
import * as wire from "../redis/wire";
import type { PlannedNode } from "./plan";
import { rangesText, slotsIn } from "./slots";

type Planned = Omit<PlannedNode, "host">;

export interface LiveNode {
    name: string;
    /** What the node said; absent when it did not answer in time. */
    report?: wire.NodeReport;
    /** Why it did not answer. */
    error?: string;
}

export interface ReadClusterInput {
    nodes: Planned[];
    auth: wire.Auth;
    tls?: wire.TlsMaterial;
    /** Per node, all nodes in parallel (default 2000 ms). */
    timeoutMs?: number;
}

export async function readCluster(i: ReadClusterInput): Promise<LiveNode[]> {
    return Promise.all(
        i.nodes.map(async n => {
            try {
                return {
                    name: n.name,
                    report: await wire.readNode({ host: n.ip, port: n.port }, { auth: i.auth, tls: i.tls }, i.timeoutMs ?? 2000),
                };
            } catch (e) {
                return { name: n.name, error: (e as Error).message };
            }
        }),
    );
}

/** Where the live cluster differs from the plan, one sentence per finding; empty when it matches (or nobody answered). */
export function drift(plan: Planned[], live: LiveNode[]): string[] {
    const reports = new Map(live.filter(l => l.report).map(l => [l.name, l.report!]));
    const names = plannedNames(plan, live);
    const idOf = new Map([...names].map(([id, name]) => [name, id]));
    const nameOf = (id?: string) => (id === undefined ? "no master" : (names.get(id) ?? `unplanned node ${id.slice(0, 8)}`));
    const out: string[] = [];
    for (const n of plan) {
        const r = reports.get(n.name);
        if (!r) continue;
        const me = self(r);
        const isMaster = r.replication.role === "master";
        if (n.role === "master") {
            if (!isMaster) out.push(`${n.name} is replica of ${nameOf(me.masterId)}, planned master`);
            else if (n.slots && slotText(me.slots) !== slotText([n.slots]))
                out.push(`${n.name} owns slots ${slotText(me.slots)}, planned ${slotText([n.slots])}`);
        } else if (isMaster) {
            out.push(`${n.name} is master${me.slots.length ? ` of slots ${slotText(me.slots)}` : ""}, planned replica of ${n.masterName}`);
        } else if (nameOf(me.masterId) !== n.masterName) {
            out.push(`${n.name} is replica of ${nameOf(me.masterId)}, planned replica of ${n.masterName}`);
        } else if (r.replication.master_link_status !== "up") {
            out.push(`${n.name}'s link to ${n.masterName} is ${r.replication.master_link_status ?? "unknown"}`);
        }
        if (me.openSlots.length)
            out.push(
                `${n.name} has slots in migration: ${me.openSlots.map(o => (o.migratingTo ? `${o.slot}->${o.migratingTo}` : `${o.slot}<-${o.importingFrom}`)).join(" ")}`,
            );
        if (r.clusterInfo.cluster_state !== "ok") out.push(`${n.name} reports cluster_state ${r.clusterInfo.cluster_state ?? "unknown"}`);
        for (const p of plan) {
            const id = idOf.get(p.name);
            if (p === n || id === undefined) continue;
            const seen = r.nodes.find(v => v.id === id);
            if (!seen) out.push(`${n.name} does not know ${p.name}`);
            else if (seen.flags.includes("fail")) out.push(`${n.name} sees ${p.name} as failed`);
        }
        for (const v of r.nodes) {
            if (!names.has(v.id)) out.push(`${n.name} knows ${nameOf(v.id)} at ${v.ip}:${v.port}`);
        }
    }
    return out;
}

/** One row per planned node: node, planned role, live role, live master, replication link, live slots, cluster_state. */
export function statusTable(plan: Planned[], live: LiveNode[]): string {
    const reports = new Map(live.filter(l => l.report).map(l => [l.name, l.report!]));
    const names = plannedNames(plan, live);
    const rows = [["node", "planned", "live", "master", "link", "slots", "state"]];
    for (const n of plan) {
        const r = reports.get(n.name);
        const planned = n.role === "master" ? "master" : `replica of ${n.masterName}`;
        if (!r) {
            rows.push([n.name, planned, "unreachable", "?", "?", "?", "?"]);
            continue;
        }
        const me = self(r);
        const isMaster = r.replication.role === "master";
        rows.push([
            n.name,
            planned,
            isMaster ? "master" : "replica",
            isMaster ? "-" : me.masterId ? (names.get(me.masterId) ?? me.masterId.slice(0, 8)) : "?",
            isMaster ? "-" : (r.replication.master_link_status ?? "?"),
            me.slots.length ? slotText(me.slots) : "-",
            r.clusterInfo.cluster_state ?? "?",
        ]);
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map(r => r[c].length)));
    return rows
        .map(r =>
            r
                .map((cell, c) => cell.padEnd(widths[c]))
                .join("  ")
                .trimEnd(),
        )
        .join("\n");
}

function self(r: wire.NodeReport): wire.ClusterNodeView {
    return (
        r.nodes.find(v => v.flags.includes("myself")) ?? { id: r.id, ip: "", port: 0, flags: [], connected: true, slots: [], openSlots: [] }
    );
}

/** Node id -> planned name: each answering node's own id, then the id others list at a silent node's address. */
function plannedNames(plan: Planned[], live: LiveNode[]): Map<string, string> {
    const names = new Map<string, string>();
    for (const l of live) if (l.report) names.set(l.report.id, l.name);
    const named = new Set(names.values());
    for (const p of plan.filter(p => !named.has(p.name))) {
        const ids = new Set(
            live
                .flatMap(l => l.report?.nodes ?? [])
                .filter(v => v.ip === p.ip && v.port === p.port && !names.has(v.id))
                .map(v => v.id),
        );
        if (ids.size === 1) names.set([...ids][0], p.name);
    }
    return names;
}

/** Slot ranges as text, adjacent ranges merged: "0-5460", "0-100,200", or "none". */
export function slotText(ranges: [number, number][]): string {
    return ranges.length ? rangesText(slotsIn(ranges)) : "none";
}
