// The cluster layout as pure data: which node is a master, which replica follows which master, where each
// node runs and which slots it owns. The component creates containers from it and the bootstrap converges
// the live cluster to it, so the same plan drives create, repair and tests.
import * as v from "../validate";

export const SLOT_COUNT = 16384;
export const MAX_REPLICAS_PER_MASTER = 5;
/** Addresses per shard (its master, then room for the most replicas), so that changing the number of masters or
 *  replicas never moves an existing node: scaling only adds or removes containers. */
export const SHARD_STRIDE = 1 + MAX_REPLICAS_PER_MASTER;

export interface ClusterShape {
    name: string;
    masters: number;
    replicasPerMaster: number;
    /** Host labels (one per Docker engine). Masters and their replicas never share one when there are 2+. */
    hosts: string[];
    subnet: string;
    /** Redis port inside every container (TLS when tls is on). */
    port: number;
}

export interface PlannedNode {
    name: string;
    host: string;
    ip: string;
    port: number;
    busPort: number;
    role: "master" | "replica";
    /** Replicas: the planned master's node name. */
    masterName?: string;
    /** Masters: the inclusive slot range they own. */
    slots?: [number, number];
}

export function validateShape(s: ClusterShape): void {
    v.dnsLabel("name", s.name);
    if (typeof s.masters !== "number" || !Number.isInteger(s.masters) || s.masters < 3 || s.masters > 100) {
        v.fail("masters", "an integer from 3 to 100 (Redis Cluster needs at least 3 masters to elect)", s.masters);
    }
    v.intInRange("replicasPerMaster", s.replicasPerMaster, 0, MAX_REPLICAS_PER_MASTER);
    if (!Array.isArray(s.hosts) || s.hosts.length === 0) v.fail("hosts", "a non-empty list of host names", s.hosts);
    s.hosts.forEach((h, i) => v.dnsLabel(`hosts[${i}]`, h));
    if (new Set(s.hosts).size !== s.hosts.length) v.fail("hosts", "distinct host names", s.hosts);
    const net = v.subnet("subnet", s.subnet);
    if (s.masters * SHARD_STRIDE > v.nodeRoom(net)) {
        v.fail("subnet", `large enough for ${s.masters} shards of ${SHARD_STRIDE} addresses (${s.masters * SHARD_STRIDE})`, s.subnet);
    }
    v.port("port", s.port);
    if (s.port + 10000 > 65535) v.fail("port", "at most 55535 (the cluster bus uses port + 10000)", s.port);
}

/** Slot ranges split evenly as redis-cli does: the first masters take the rounding, the last ends at 16383. */
export function slotRanges(masters: number): [number, number][] {
    return Array.from({ length: masters }, (_, m) => [
        Math.round((m * SLOT_COUNT) / masters),
        Math.round(((m + 1) * SLOT_COUNT) / masters) - 1,
    ]);
}

export function planCluster(s: ClusterShape): PlannedNode[] {
    validateShape(s);
    const net = v.subnet("subnet", s.subnet);
    const H = s.hosts.length;
    const ranges = slotRanges(s.masters);
    const nodes: PlannedNode[] = [];
    // Shard m's master sits at .10 + 6m and its replica r right after it at .10 + 6m + 1 + r.
    const node = (name: string, hostIndex: number, shardSlot: number, extra: Partial<PlannedNode>): PlannedNode => ({
        name,
        host: s.hosts[hostIndex % H],
        ip: v.addressIn(net, 10 + shardSlot),
        port: s.port,
        busPort: s.port + 10000,
        role: "master",
        ...extra,
    });
    for (let m = 0; m < s.masters; m++) {
        nodes.push(node(`${s.name}-m${m}`, m, m * SHARD_STRIDE, { role: "master", slots: ranges[m] }));
    }
    for (let m = 0; m < s.masters; m++) {
        for (let r = 0; r < s.replicasPerMaster; r++) {
            // With several hosts, step past the master's host: m + 1 + (r mod (H-1)) never lands on m mod H.
            const hostIndex = H > 1 ? m + 1 + (r % (H - 1)) : 0;
            nodes.push(node(`${s.name}-m${m}-r${r}`, hostIndex, m * SHARD_STRIDE + 1 + r, { role: "replica", masterName: `${s.name}-m${m}` }));
        }
    }
    return nodes;
}
