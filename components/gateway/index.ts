// ClusterGateway: spiped in front of a whole RedisCluster. Beside every node, on that node's engine, a spiped server
// decrypts to the node's client port; on the gateway's engine, one spiped client per node listens on loopback. The
// natMap output maps what each node announces to its listener, so a cluster client follows MOVED/ASK through the
// tunnels. One key for the whole cluster (random.RandomPassword, `keyRotation`), a file on each end's read-only volume.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { engineProvider, RedisCluster } from "../cluster";
import { engineImage } from "../redis/node";
import { spipedEnd, SPIPED_DEFAULTS } from "../spiped";
import { KEY_CHARS } from "../spiped/plan";
import * as v from "../validate";
import { GatewayPlan, LISTEN_ADDRESS, planGateway } from "./plan";

export { planGateway, tunnelIndexes, GatewayNode, GatewayPlan, GatewayShape, PlannedTunnel, LISTEN_ADDRESS } from "./plan";

/** ClusterGateway's defaults: what an unset field of ClusterGatewayArgs means. */
export const GATEWAY_DEFAULTS = Object.freeze({
    ...SPIPED_DEFAULTS,
    basePort: 7000,
    /** A one-host cluster's transit network (a multi-host one has no default: `subnets` names each). */
    subnet: "172.31.2.0/24",
    gatewaySubnet: "172.31.3.0/24",
} as const);

export interface ClusterGatewayArgs {
    /** The cluster to front. It must have `loopbackSans: true` when it uses TLS (the client checks 127.0.0.1). */
    cluster: RedisCluster;
    /** Node with shard slot k (shard m's master: 6m, its replica r: 6m + 1 + r) listens on basePort + k (default 7000). */
    basePort?: number;
    /** The servers' encrypted port (default 8379). */
    serverPort?: number;
    /** The transit network of a one-host cluster (default "172.31.2.0/24"); `subnets` names one per host. */
    subnet?: string;
    /** Transit subnet per cluster host name (required for each host of a multi-host cluster). */
    subnets?: Record<string, string>;
    /** The gateway's own network, used when a cluster host is on another engine (default "172.31.3.0/24"). */
    gatewaySubnet?: string;
    /** The gateway's engine (default: the local one); a cluster host given the same provider or dockerHost counts as it. */
    provider?: docker.Provider;
    dockerHost?: string;
    maxConnections?: number;
    keepalive?: boolean;
    connectTimeoutSeconds?: number;
    /** Change to rotate the key on the next `pulumi up` (every tunnel's two ends are replaced). */
    keyRotation?: string;
    image?: string;
}

/** The gateway fronting each cluster of this program: its servers' addresses on the node network are fixed per node,
 *  so a second gateway's would be the same ones (Docker would refuse them mid-update). */
const fronted = new WeakMap<RedisCluster, string>();

/** The cluster-side facts the plan needs, from a RedisCluster. */
function shapeOf(name: string, args: ClusterGatewayArgs) {
    const c = args.cluster;
    const d = GATEWAY_DEFAULTS;
    if (!c || !Array.isArray(c.nodes) || !Array.isArray(c.hostNetworks)) v.fail("cluster", "a RedisCluster", typeof c);
    if (c.tls && !c.loopbackSans) {
        v.fail(
            "cluster",
            "a RedisCluster with loopbackSans: true when it uses TLS (TLS runs inside the tunnels and the client checks the node certificate against 127.0.0.1)",
            false,
        );
    }
    if (args.dockerHost !== undefined) v.dockerHost("dockerHost", args.dockerHost);
    if (args.dockerHost !== undefined && args.provider)
        v.fail("provider", "given without dockerHost (one engine: a provider or a dockerHost)", "both");
    if (args.image !== undefined) v.imageRef("image", args.image);
    const hosts = c.hostNetworks;
    if (args.subnets !== undefined && (typeof args.subnets !== "object" || args.subnets === null))
        v.fail("subnets", "a map of cluster host name to subnet", args.subnets);
    for (const k of Object.keys(args.subnets ?? {}))
        if (!hosts.some(h => h.name === k)) v.fail(`subnets.${k}`, `a host of the cluster (${hosts.map(h => h.name).join(", ")})`, k);
    const transit = (h: string) =>
        args.subnets?.[h] ??
        (hosts.length === 1
            ? (args.subnet ?? d.subnet)
            : v.fail(`subnets.${h}`, "a transit subnet for every host of a multi-host cluster", undefined));
    const same = (h: (typeof hosts)[number]) =>
        args.provider ? h.provider === args.provider : args.dockerHost !== undefined ? h.dockerHost === args.dockerHost : !h.provider;
    return {
        name,
        nodes: c.nodes,
        clusterSubnets: Object.fromEntries(hosts.map(h => [h.name, h.subnet])),
        transitSubnets: Object.fromEntries(hosts.map(h => [h.name, transit(h.name)])),
        sameEngine: Object.fromEntries(hosts.map(h => [h.name, same(h)])),
        gatewaySubnet: args.gatewaySubnet ?? d.gatewaySubnet,
        basePort: args.basePort ?? d.basePort,
        serverPort: args.serverPort ?? d.serverPort,
        maxConnections: args.maxConnections ?? d.maxConnections,
        keepalive: args.keepalive ?? d.keepalive,
        connectTimeoutSeconds: args.connectTimeoutSeconds ?? d.connectTimeoutSeconds,
    };
}

/** Every check ClusterGateway makes, as a pure function (a program can run it before creating anything). */
export function gatewayPlan(name: string, args: ClusterGatewayArgs): GatewayPlan {
    return planGateway(shapeOf(name, args));
}

export class ClusterGateway extends pulumi.ComponentResource {
    /** Secret: the cluster's tunnel key, base64 (both ends of every tunnel hold it). */
    readonly keyBase64: pulumi.Output<string>;
    /** Each node's loopback listener on the gateway's engine. */
    readonly endpoints: { node: string; ip: string; port: number }[];
    /** announced "ip:port" -> { host: "127.0.0.1", port }: give it to connect() with `endpoints` as the nodes. */
    readonly natMap: Record<string, { host: string; port: number }>;
    /** The tunnels' networks by cluster host (the gateway's clients sit on those of its own engine). */
    readonly transitNetworks: Record<string, pulumi.Output<string>>;

    constructor(name: string, args: ClusterGatewayArgs, opts?: pulumi.ComponentResourceOptions) {
        super("redis-secure-topologies:gateway:ClusterGateway", name, {}, opts);
        const shape = shapeOf(name, args);
        const plan = planGateway(shape);
        const other = fronted.get(args.cluster);
        if (other !== undefined)
            v.fail(
                "cluster",
                `a RedisCluster no other ClusterGateway fronts (one gateway per cluster: its spiped servers take fixed addresses on the node network; ${other} has them)`,
                name,
            );
        fronted.set(args.cluster, name);
        const image = args.image ?? GATEWAY_DEFAULTS.image;
        const gwProvider =
            args.provider ??
            (args.dockerHost ? engineProvider(`${name}-engine`, "dockerHost", name, args.dockerHost, { parent: this }) : undefined);
        // One key per cluster: every tunnel ends in the same trust domain (a client needs all of them to follow
        // redirects), so per-node keys would multiply secrets without isolating anything. Not RandomBytes: its ID is the key.
        const key = new random.RandomPassword(
            `${name}-key`,
            { length: KEY_CHARS, special: false, keepers: { rotation: args.keyRotation ?? GATEWAY_DEFAULTS.keyRotation } },
            { parent: this },
        );
        const keyBase64 = pulumi.secret(key.result.apply(k => Buffer.from(k).toString("base64")));

        const hosts = new Map(args.cluster.hostNetworks.map(h => [h.name, h]));
        // Containers run the image by its ID on each engine (engineImage): the servers' on each cluster host's, the
        // clients' on the gateway's.
        const serverImages = new Map(
            [...hosts.values()].map(h => [h.name, engineImage(`${name}-${h.name}`, image, { parent: this, provider: h.provider })]),
        );
        const local = [...hosts.keys()].find(h => shape.sameEngine[h]);
        const clientImage =
            local !== undefined ? serverImages.get(local)! : engineImage(name, image, { parent: this, provider: gwProvider });
        // Not internal: published ports need a routed network, and clients on another engine route to it. Docker's
        // isolation between bridges still keeps it apart from the (internal) node network.
        const transit = new Map(
            [...hosts.values()].map(h => [
                h.name,
                new docker.Network(
                    `${name}-net-${h.name}`,
                    {
                        name: `${name}-net-${h.name}`,
                        ipamConfigs: [{ subnet: shape.transitSubnets[h.name] }],
                    },
                    { parent: this, provider: h.provider },
                ),
            ]),
        );
        const own = plan.gatewayNetwork
            ? new docker.Network(
                  `${name}-net`,
                  { name: `${name}-net`, ipamConfigs: [{ subnet: shape.gatewaySubnet }] },
                  { parent: this, provider: gwProvider },
              )
            : undefined;

        // Keyed by node name: a scale-out adds tunnels, a scale-in removes them, the others stay as they are.
        for (const t of plan.tunnels) {
            const host = hosts.get(t.host)!;
            // The two ends do not wait for each other (a spiped client connects per connection): on a key rotation
            // both write the new key while the old ends still serve, then both are replaced at once.
            spipedEnd(
                t.serverName,
                {
                    image: serverImages.get(t.host)!,
                    keyBase64,
                    command: t.serverCommand,
                    networksAdvanced: [
                        { name: host.networkName, ipv4Address: t.serverNodeNetIp },
                        { name: transit.get(t.host)!.name, ipv4Address: t.serverTransitIp, aliases: [t.serverName] },
                    ],
                },
                { parent: this, provider: host.provider, deleteBeforeReplace: true },
            );
            spipedEnd(
                t.clientName,
                {
                    image: clientImage,
                    keyBase64,
                    command: t.clientCommand,
                    networksAdvanced: [
                        { name: (t.clientNetwork === "transit" ? transit.get(t.host)! : own!).name, aliases: [t.clientName] },
                    ],
                    ports: [{ internal: t.listenPort, external: t.listenPort, ip: LISTEN_ADDRESS }],
                },
                { parent: this, provider: gwProvider, deleteBeforeReplace: true },
            );
        }
        this.keyBase64 = keyBase64;
        this.endpoints = plan.endpoints;
        this.natMap = plan.natMap;
        this.transitNetworks = Object.fromEntries([...transit].map(([h, n]) => [h, n.name]));
        this.registerOutputs({
            keyBase64: this.keyBase64,
            endpoints: this.endpoints,
            natMap: this.natMap,
            transitNetworks: this.transitNetworks,
        });
    }
}
