// ClusterGateway as pure data: one spiped tunnel per cluster node, its ports and addresses, and the address map a
// cluster client needs. Everything is derived from the node's shard and replica number, so scaling the cluster
// adds or removes tunnels and never moves one.
import { SHARD_STRIDE } from "../cluster/plan";
import { clientCommand, KEY_BYTES, serverCommand, TunnelShape, validateTunnel } from "../spiped/plan";
import * as v from "../validate";

/** The gateway's loopback listeners: node certificates name 127.0.0.1 (RedisCluster `loopbackSans`), not other addresses. */
export const LISTEN_ADDRESS = "127.0.0.1";
/** The lowest basePort: the listeners stay clear of the privileged ports. */
export const MIN_BASE_PORT = 1024;

/** What the gateway needs of a planned cluster node (RedisCluster `nodes`). */
export interface GatewayNode {
    name: string;
    host: string;
    ip: string;
    port: number;
    role: "master" | "replica";
    masterName?: string;
}

export interface GatewayShape {
    name: string;
    nodes: GatewayNode[];
    /** Each cluster host's node subnet (RedisCluster `hostNetworks`): the servers take fixed addresses there. */
    clusterSubnets: Record<string, string>;
    /** Each cluster host's transit subnet: the servers' second network, where the gateway's clients reach them. */
    transitSubnets: Record<string, string>;
    /** Cluster hosts whose engine is the gateway's: their clients join the transit network; the others route to it. */
    sameEngine: Record<string, boolean>;
    /** The gateway's own network on its engine, for clients of hosts on other engines (unused otherwise). */
    gatewaySubnet: string;
    basePort: number;
    serverPort: number;
    maxConnections: number;
    keepalive: boolean;
    connectTimeoutSeconds: number;
}

export interface PlannedTunnel {
    node: string;
    host: string;
    /** The node's shard slot: SHARD_STRIDE x shard, + 1 + replica number for replicas (its address offset from .10). */
    index: number;
    /** What the node announces (cluster-announce-ip/port), the key of the natMap. */
    announced: string;
    listenPort: number;
    serverName: string;
    clientName: string;
    /** The server's fixed address on the cluster's node network (top of the subnet down, clear of the nodes). */
    serverNodeNetIp: string;
    /** The server's fixed address on the transit network (.10 + index), the client's target. */
    serverTransitIp: string;
    /** The network the client joins: the host's transit network (same engine) or the gateway's own. */
    clientNetwork: "transit" | "gateway";
    serverCommand: string[];
    clientCommand: string[];
}

export interface GatewayPlan {
    tunnels: PlannedTunnel[];
    /** announced "ip:port" -> the local listener, as ioredis's natMap takes it. */
    natMap: Record<string, { host: string; port: number }>;
    /** Each node's local listener (seeds for a cluster client). */
    endpoints: { node: string; ip: string; port: number }[];
    /** Whether the gateway's own network is needed (some host is on another engine). */
    gatewayNetwork: boolean;
}

/**
 * Each node's shard slot from the plan's structure: the m-th master is shard m, a replica is its master's shard plus
 * 1 + its number among that master's replicas. The same numbers the cluster's addresses come from (.10 + slot).
 */
export function tunnelIndexes(nodes: GatewayNode[]): Map<string, number> {
    const shards = new Map<string, number>();
    nodes.filter(n => n.role === "master").forEach((n, m) => shards.set(n.name, m));
    const seen = new Map<string, number>();
    return new Map(
        nodes.map(n => {
            if (n.role === "master") return [n.name, shards.get(n.name)! * SHARD_STRIDE];
            const m = n.masterName === undefined ? undefined : shards.get(n.masterName);
            if (m === undefined)
                v.fail("cluster", `a plan whose replicas name one of its masters (${n.name} follows ${n.masterName})`, n.masterName);
            const r = seen.get(n.masterName!) ?? 0;
            seen.set(n.masterName!, r + 1);
            return [n.name, m * SHARD_STRIDE + 1 + r];
        }),
    );
}

const sizeOf = (s: { bits: number }) => 2 ** (32 - s.bits);

export function planGateway(s: GatewayShape): GatewayPlan {
    v.dnsLabel("name", s.name);
    if (!Array.isArray(s.nodes) || s.nodes.length === 0) v.fail("cluster", "a RedisCluster with nodes", s.nodes);
    const indexes = tunnelIndexes(s.nodes);
    const top = Math.max(...indexes.values());
    v.port("serverPort", s.serverPort);
    // Every listener on the gateway's loopback: basePort + the node's slot, so the whole range must fit.
    v.intInRange("basePort", s.basePort, MIN_BASE_PORT, 65535 - top);
    const hosts = [...new Set(s.nodes.map(n => n.host))];
    const subnets: { field: string; cidr: string }[] = [];
    const seen = new Set<string>();
    for (const h of hosts) {
        const cidr = s.clusterSubnets[h];
        const net = v.subnet(`cluster (host ${h})`, cidr);
        // Servers count down from the top of the node subnet, nodes count up from .10: the two must not meet.
        if (10 + top >= sizeOf(net) - 2 - top) {
            const replicas = Math.max(...[...indexes.values()].map(i => i % SHARD_STRIDE));
            const most = Math.floor((Math.floor((sizeOf(net) - 13) / 2) - replicas) / SHARD_STRIDE) + 1;
            v.fail(
                "cluster",
                `a cluster whose node subnet has room for a spiped server beside each node (nodes from .10 up, servers from the top down; ${cidr} fits ${most} masters of ${replicas} replicas with the gateway)`,
                cidr,
            );
        }
        if (!seen.has(cidr)) subnets.push({ field: `cluster (host ${h})`, cidr });
        seen.add(cidr);
    }
    for (const h of hosts) {
        const field = `subnets.${h}`;
        const transit = v.subnet(field, s.transitSubnets[h]);
        if (10 + top > sizeOf(transit) - 3)
            v.fail(field, `a subnet with room for ${top + 1} tunnel addresses from .10`, s.transitSubnets[h]);
        subnets.push({ field, cidr: s.transitSubnets[h] });
    }
    const gatewayNetwork = hosts.some(h => !s.sameEngine[h]);
    if (gatewayNetwork) subnets.push({ field: "gatewaySubnet", cidr: v.subnet("gatewaySubnet", s.gatewaySubnet).cidr });
    v.disjointSubnets(subnets);

    const tunnels = s.nodes.map(n => {
        const index = indexes.get(n.name)!;
        const serverName = `${s.name}-${n.name}-server`;
        const serverNodeNetIp = v.addressIn(
            v.subnet("cluster", s.clusterSubnets[n.host]),
            sizeOf(v.subnet("cluster", s.clusterSubnets[n.host])) - 2 - index,
        );
        const serverTransitIp = v.addressIn(v.subnet(`subnets.${n.host}`, s.transitSubnets[n.host]), 10 + index);
        const shape: TunnelShape = {
            name: s.name,
            targetHost: n.ip,
            targetPort: n.port,
            serverPort: s.serverPort,
            listenAddress: LISTEN_ADDRESS,
            listenPort: s.basePort + index,
            allowNonLoopbackListener: false,
            maxConnections: s.maxConnections,
            keepalive: s.keepalive,
            connectTimeoutSeconds: s.connectTimeoutSeconds,
            keyBytes: KEY_BYTES,
        };
        validateTunnel(shape);
        return {
            node: n.name,
            host: n.host,
            index,
            announced: `${n.ip}:${n.port}`,
            listenPort: shape.listenPort,
            serverName,
            clientName: `${s.name}-${n.name}-client`,
            serverNodeNetIp,
            serverTransitIp,
            clientNetwork: s.sameEngine[n.host] ? ("transit" as const) : ("gateway" as const),
            serverCommand: serverCommand(shape),
            clientCommand: clientCommand(shape, serverTransitIp),
        };
    });
    v.distinctPorts(
        "basePort",
        tunnels.map(t => t.listenPort),
    );
    return {
        tunnels,
        natMap: Object.fromEntries(tunnels.map(t => [t.announced, { host: LISTEN_ADDRESS, port: t.listenPort }])),
        endpoints: tunnels.map(t => ({ node: t.node, ip: LISTEN_ADDRESS, port: t.listenPort })),
        gatewayNetwork,
    };
}
