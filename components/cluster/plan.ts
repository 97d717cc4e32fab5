// The cluster layout as pure data: which node is a master, which replica follows which master, where each
// node runs and which slots it owns. The component creates containers from it and the bootstrap converges
// the live cluster to it, so the same plan drives create, repair and tests.
import * as v from "../validate";

export const SLOT_COUNT = 16384;
export const MAX_REPLICAS_PER_MASTER = 5;
/** Addresses per shard (its master, then room for the most replicas), so that changing the number of masters or
 *  replicas never moves an existing node: scaling only adds or removes containers. */
export const SHARD_STRIDE = 1 + MAX_REPLICAS_PER_MASTER;

/** A host with its own container subnet (each Docker engine's network is its own; hosts only route between them). */
export interface HostShape {
    name: string;
    /** This host's container subnet (default: the cluster's `subnet`). Shard m's nodes get .10 + 6m onwards in it. */
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
    return s.hosts.map((h, i) =>
        typeof h === "string"
            ? { name: v.dnsLabel(`hosts[${i}]`, h), subnet: s.subnet, field: "subnet" }
            : h && typeof h === "object"
              ? {
                    name: v.dnsLabel(`hosts[${i}].name`, h.name),
                    subnet: h.subnet ?? s.subnet,
                    field: h.subnet === undefined ? "subnet" : `hosts[${i}].subnet`,
                }
              : v.fail(`hosts[${i}]`, "a host name or { name, subnet }", h),
    );
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
    v.intInRange("replicasPerMaster", s.replicasPerMaster, 0, MAX_REPLICAS_PER_MASTER);
    const hosts = hostList(s);
    const names = hosts.map(h => h.name);
    if (new Set(names).size !== names.length) v.fail("hosts", "distinct host names", names);
    // A failover needs a majority of masters: with 3+ hosts, losing any one host must leave more than half.
    const most = mostMastersOnOneHost(s.masters, hosts.length);
    if (hosts.length >= 3 && most * 2 >= s.masters) {
        v.fail(
            "masters",
            `a count that leaves a majority when any one host is lost (${most} of ${s.masters} would share one of ${hosts.length} hosts)`,
            s.masters,
        );
    }
    v.subnet("subnet", s.subnet);
    // Hosts that share a subnet share its address range; different subnets must not overlap.
    const nets = new Map<string, string>();
    for (const h of hosts) if (!nets.has(h.subnet)) nets.set(h.subnet, h.field);
    v.disjointSubnets([...nets].map(([cidr, field]) => ({ field, cidr })));
    // Addresses are per shard in every subnet (see placeClusterNodes), so each subnet needs room for all the shards.
    for (const [cidr, field] of nets) {
        if (s.masters * SHARD_STRIDE > v.nodeRoom(v.subnet(field, cidr))) {
            v.fail(field, `large enough for ${s.masters} shards of ${SHARD_STRIDE} addresses (${s.masters * SHARD_STRIDE})`, cidr);
        }
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

/**
 * The host index of every node, in plan order: masters round-robin, then each master's replicas. A node's host
 * depends only on its shard and replica number, never on the totals, so scaling never moves a node.
 */
function placement(masters: number, replicasPerMaster: number, H: number): number[] {
    const out: number[] = [];
    for (let m = 0; m < masters; m++) out.push(m % H);
    for (let m = 0; m < masters; m++) {
        for (let r = 0; r < replicasPerMaster; r++) {
            // Step past the master's host: m + 1 + (k mod (H-1)) never lands on m mod H. k also counts the round of
            // masters (m / H), so each round's replicas take other hosts than the last round's (6 x 1 on 4 hosts: 3
            // nodes each, not 3/4/3/2).
            out.push(H > 1 ? (m + 1 + ((r + Math.floor(m / H)) % (H - 1))) % H : 0);
        }
    }
    return out;
}

/** Every node of the shape: its name, host, address, role and slots (resolveClusterArgs checks the component's args, then calls this). */
export function placeClusterNodes(s: ClusterShape): PlannedNode[] {
    validateShape(s);
    const hosts = hostList(s);
    const ranges = slotRanges(s.masters);
    const hostIndex = placement(s.masters, s.replicasPerMaster, hosts.length);
    return hostIndex.map((h, i) => {
        const { name: host, subnet } = hosts[h];
        const master = i < s.masters;
        const m = master ? i : Math.floor((i - s.masters) / s.replicasPerMaster);
        const r = master ? -1 : (i - s.masters) % s.replicasPerMaster;
        // Shard m's master sits at .10 + 6m and its replica r right after it at .10 + 6m + 1 + r (in its host's subnet).
        const common = {
            host,
            ip: v.addressIn(v.subnet("subnet", subnet), 10 + m * SHARD_STRIDE + 1 + r),
            port: s.port,
            busPort: s.port + 10000,
        };
        return master
            ? { name: `${s.name}-m${m}`, ...common, role: "master" as const, slots: ranges[m] }
            : { name: `${s.name}-m${m}-r${r}`, ...common, role: "replica" as const, masterName: `${s.name}-m${m}` };
    });
}

/**
 * Anti-affinity as a setting: "hard" (the default of RedisCluster) refuses a plan where a master would share a host
 * with its replica, i.e. replicas on fewer than 2 hosts; "soft" places them as well as the hosts allow.
 */
export function checkAntiAffinity(mode: unknown, hosts: number, replicasPerMaster: number): void {
    v.oneOf("antiAffinity", mode, ["hard", "soft"] as const);
    if (mode === "hard" && replicasPerMaster > 0 && hosts < 2) {
        v.fail(
            "hosts",
            `at least 2 hosts, so no master shares a host with its replica (antiAffinity "hard"; set antiAffinity: "soft" to allow one host)`,
            hosts,
        );
    }
}
