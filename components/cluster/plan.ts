// The cluster layout as pure data: which node is a master, which replica follows which master, where each
// node runs and which slots it owns. The component creates containers from it and the bootstrap converges
// the live cluster to it, so the same plan drives create, repair and tests.
import * as v from "../validate";

export const SLOT_COUNT = 16384;

/** A host with its own container subnet (each Docker engine's network is its own; hosts only route between them). */
export interface HostShape {
    name: string;
    /** This host's container subnet (default: the cluster's `subnet`). Nodes get addresses from .10 up in it. */
    subnet?: string;
}

export interface ClusterShape {
    name: string;
    masters: number;
    replicasPerMaster: number;
    /** Host labels (one per Docker engine). Masters and their replicas never share one when there are 2+. */
    hosts: (string | HostShape)[];
    /** The subnet of hosts that have none of their own; hosts sharing a subnet share its address range. */
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

/** Each host's name and subnet, with the field that set the subnet (for messages). */
function hostList(s: ClusterShape): { name: string; subnet: string; field: string }[] {
    if (!Array.isArray(s.hosts) || s.hosts.length === 0) v.fail("hosts", "a non-empty list of host names", s.hosts);
    return s.hosts.map((h, i) => typeof h === "string"
        ? { name: v.dnsLabel(`hosts[${i}]`, h), subnet: s.subnet, field: "subnet" }
        : h && typeof h === "object"
            ? { name: v.dnsLabel(`hosts[${i}].name`, h.name), subnet: h.subnet ?? s.subnet, field: h.subnet === undefined ? "subnet" : `hosts[${i}].subnet` }
            : v.fail(`hosts[${i}]`, "a host name or { name, subnet }", h));
}

/** Each host's container subnet, by host name. */
export function hostSubnets(s: ClusterShape): Record<string, string> {
    return Object.fromEntries(hostList(s).map(h => [h.name, h.subnet]));
}

/** The most masters any one host holds: masters go round-robin over the hosts. */
export function mostMastersOnOneHost(masters: number, hosts: number): number {
    return Math.ceil(masters / hosts);
}

export function validateShape(s: ClusterShape): void {
    v.dnsLabel("name", s.name);
    if (typeof s.masters !== "number" || !Number.isInteger(s.masters) || s.masters < 3 || s.masters > 100) {
        v.fail("masters", "an integer from 3 to 100 (Redis Cluster needs at least 3 masters to elect)", s.masters);
    }
    v.intInRange("replicasPerMaster", s.replicasPerMaster, 0, 5);
    const hosts = hostList(s);
    const names = hosts.map(h => h.name);
    if (new Set(names).size !== names.length) v.fail("hosts", "distinct host names", names);
    // A failover needs a majority of masters: with 3+ hosts, losing any one host must leave more than half.
    const most = mostMastersOnOneHost(s.masters, hosts.length);
    if (hosts.length >= 3 && most * 2 >= s.masters) {
        v.fail("masters", `a count that leaves a majority when any one host is lost (${most} of ${s.masters} would share one of ${hosts.length} hosts)`, s.masters);
    }
    v.subnet("subnet", s.subnet);
    const nets = new Map<string, { field: string; base: number; size: number }>();
    for (const h of hosts) {
        if (nets.has(h.subnet)) continue;
        const n = v.subnet(h.field, h.subnet);
        const size = 2 ** (32 - n.bits);
        for (const [cidr, o] of nets) {
            if (n.base < o.base + o.size && o.base < n.base + size) v.fail(h.field, `a subnet that does not overlap ${o.field} (${cidr})`, h.subnet);
        }
        nets.set(h.subnet, { field: h.field, base: n.base, size });
    }
    const perSubnet = new Map<string, number>();
    for (const i of placement(s.masters, s.replicasPerMaster, hosts.length)) perSubnet.set(hosts[i].subnet, (perSubnet.get(hosts[i].subnet) ?? 0) + 1);
    for (const [cidr, needed] of perSubnet) {
        if (needed > v.nodeRoom(v.subnet("subnet", cidr))) v.fail(nets.get(cidr)!.field, `large enough for ${needed} nodes`, cidr);
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

/** The host index of every node, in plan order: masters round-robin, then each master's replicas. */
function placement(masters: number, replicasPerMaster: number, H: number): number[] {
    const out: number[] = [];
    for (let m = 0; m < masters; m++) out.push(m % H);
    for (let m = 0; m < masters; m++) {
        for (let r = 0; r < replicasPerMaster; r++) {
            // With several hosts, step past the master's host: m + 1 + (r mod (H-1)) never lands on m mod H.
            out.push(H > 1 ? (m + 1 + (r % (H - 1))) % H : 0);
        }
    }
    return out;
}

export function planCluster(s: ClusterShape): PlannedNode[] {
    validateShape(s);
    const hosts = hostList(s);
    const ranges = slotRanges(s.masters);
    const hostIndex = placement(s.masters, s.replicasPerMaster, hosts.length);
    const used = new Map<string, number>(); // addresses taken per subnet
    return hostIndex.map((h, i) => {
        const { name: host, subnet } = hosts[h];
        const k = used.get(subnet) ?? 0;
        used.set(subnet, k + 1);
        const m = i < s.masters ? i : Math.floor((i - s.masters) / s.replicasPerMaster);
        const common = { host, ip: v.addressIn(v.subnet("subnet", subnet), 10 + k), port: s.port, busPort: s.port + 10000 };
        return i < s.masters
            ? { name: `${s.name}-m${m}`, ...common, role: "master" as const, slots: ranges[m] }
            : { name: `${s.name}-m${m}-r${(i - s.masters) % s.replicasPerMaster}`, ...common, role: "replica" as const, masterName: `${s.name}-m${m}` };
    });
}
