// RedisCluster: N masters x R replicas on Docker, TLS-only (client port, replication and the cluster bus) with
// ACL users, bootstrapped and kept in its planned roles by the ClusterBootstrap dynamic resource.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { CaRotation, caRotation, Certificate, CertificateLifetime, certificateLifetime, clientTlsMaterial, rotatingCa } from "../pki";
import { MetricsArgs, MetricsOutput, MetricsPlan, metricsPlan, redisExporter } from "../metrics";
import { APPENDFSYNC, AppendFsync, crashRestartDelayMs } from "../redis/conf";
import { DEFAULT_IMAGE, engineImage } from "../redis/node";
import { TlsReload } from "../redis/reload";
import { PasswordRotation } from "../redis/rotation";
import { secureNode } from "../redis/secure";
import { checkGraceSeconds, checkPasswordRotation, RedisUsers, UserPasswordRotation } from "../redis/users";
import * as v from "../validate";
import { ClusterBootstrap } from "./bootstrap";
import { checkEngine } from "./engines";
import type { Exported, RedisClusterOutputs } from "./outputs";
import { checkAntiAffinity, hostSubnets, PlannedNode, placeClusterNodes } from "./plan";

export { clusterBootstrapProvider, ClusterBootstrap } from "./bootstrap";
export { checkEngines } from "./engines";
export { converge, BootstrapNode } from "./converge";
export { drift, readCluster, statusTable, LiveNode } from "./status";
export { Exported, RedisClusterOutputs } from "./outputs";
export { checkAntiAffinity, hostSubnets, placeClusterNodes, slotRanges, validateShape, PlannedNode, ClusterShape, HostShape } from "./plan";

/** A docker.Provider for `dockerHost` whose address resolves only once that engine answers (checkEngine names
 *  `field` and `hostName` otherwise), so nothing is created on an engine that is not there. */
export function engineProvider(
    name: string,
    field: string,
    hostName: string,
    dockerHost: string,
    opts: pulumi.ResourceOptions,
): docker.Provider {
    return new docker.Provider(name, { host: pulumi.output(checkEngine(field, hostName, dockerHost).then(() => dockerHost)) }, opts);
}

export interface ClusterHost {
    /** A label for the host, used for placement and in resource names. */
    name: string;
    /** The Docker engine of that host (default: the local engine). */
    provider?: docker.Provider;
    /** Or its address (unix:///..., tcp://host:port, ssh://user@host): the component makes the provider. */
    dockerHost?: string;
    /** This host's container subnet (default: the cluster's `subnet`); hosts must route to each other's subnets. */
    subnet?: string;
}

/** A host of a deployed cluster: its engine (provider, or none for the local one) and its node network. */
export interface ClusterHostNetwork {
    name: string;
    provider?: docker.Provider;
    /** The engine address the host was given (when it was given one rather than a provider). */
    dockerHost?: string;
    subnet: string;
    networkName: pulumi.Output<string>;
}

/** RedisCluster's defaults: what an unset field of RedisClusterArgs means (program.ts's stack config defaults use them
 *  too). internalNetwork's depends on the hosts (see resolveClusterArgs). */
export const CLUSTER_DEFAULTS = Object.freeze({
    masters: 3,
    replicasPerMaster: 1,
    /** One host: the local engine. */
    hosts: Object.freeze([Object.freeze({ name: "local" })]),
    antiAffinity: "hard",
    subnet: "172.30.0.0/24",
    port: 6379,
    tls: true,
    allowPlaintextAcrossHosts: false,
    mutualTls: false,
    loopbackSans: false,
    nodeTimeoutMs: 5000,
    appendonly: true,
    appendfsync: "everysec",
    image: DEFAULT_IMAGE,
    /** No exporter. */
    metrics: false,
    /** The exporter's listener port and network, for `metrics: true` (or metrics that do not set them). */
    exporter: Object.freeze({ listenPort: 9121, subnet: "172.31.4.0/24" }),
} as const);

export interface RedisClusterArgs {
    /** Masters (default 3, at least 3). Decides how many resources exist, so it is a plain number. */
    masters?: number;
    /** Replicas per master (default 1). */
    replicasPerMaster?: number;
    /** Docker hosts to spread nodes over; a master and its replicas never share one (default: local engine). */
    hosts?: ClusterHost[];
    /** "hard" (default): refuse a plan where a master shares a host with its replica (needs 2+ hosts when
     *  replicasPerMaster > 0); "soft": place them as well as the hosts allow (one engine for development). */
    antiAffinity?: "hard" | "soft";
    /** The subnet of hosts without their own (default "172.30.0.0/24"); shard m's master gets .10 + 6m and its
     *  replicas the addresses after it, so changing masters or replicasPerMaster never moves a node (40 shards a /24). */
    subnet?: string;
    /** Node traffic on an internal Docker network, with no route out (default: true on one host; with several
     *  hosts nodes must route between engines, so it is false there and TLS carries the protection). */
    internalNetwork?: boolean;
    /** Redis port inside the containers (default 6379); the cluster bus is port + 10000. */
    port?: number;
    /** TLS for clients, replication and the cluster bus, with the plain port off (default true). */
    tls?: boolean;
    /** Let `tls: false` span several hosts (default false: passwords, e.g. MIGRATE's AUTH2, would cross the network in clear). */
    allowPlaintextAcrossHosts?: boolean;
    /** Require client certificates from the CA (default false). Only then is a client certificate issued and exported:
     *  the cluster bus takes any certificate of the cluster's CA, so a client holding one could speak the bus protocol. */
    mutualTls?: boolean;
    /** Also put localhost and 127.0.0.1 in node certificates (default false), for clients that reach a node through a
     *  port forwarded to loopback. */
    loopbackSans?: boolean;
    /** The node and client certificates' validity and early renewal. A `pulumi up` inside the renewal window issues new
     *  ones, which the running nodes load one at a time (TlsReload): no container is replaced. */
    certificates?: CertificateLifetime;
    /** Raise `ca.generation` by one to rotate the CA: the nodes trust both CAs, move to certificates of the new one one
     *  at a time, and drop the old one on the next `pulumi up` after `ca.graceHours` (default 0). */
    ca?: CaRotation;
    nodeTimeoutMs?: number;
    /** Every write logged to an append-only file on the node's volume (default true). With it off a node restarts from
     *  its last RDB snapshot; a crashed master still waits for its replica's promotion (see README, Durability). */
    appendonly?: boolean;
    /** When the AOF is fsynced (default "everysec": a power loss can drop about 1 s; "always": each write, slower). */
    appendfsync?: AppendFsync;
    maxmemory?: string;
    maxmemoryPolicy?: string;
    /** ACL rules of the application user (default: no @dangerous or @admin commands). */
    appRules?: string;
    /** Per user (app, admin, replication), a value whose change rotates that user's password live: the new one is
     *  added on every node beside the old one, every internal client switches to it, the outputs publish it, and the
     *  old one is dropped on the next `pulumi up` (see passwordGraceSeconds). No node restarts. E.g. `{ app: "2026-12" }`. */
    passwordRotation?: UserPasswordRotation;
    /** How long the old password of a rotation keeps working: the first `pulumi up` at least this many seconds after
     *  the rotation drops it (default 0: the next `pulumi up`). */
    passwordGraceSeconds?: number;
    image?: string;
    /** A Prometheus exporter for every node (one container on the first host, `/scrape?target=` per node), logged in
     *  as the read-only `metrics` user; `true` for the defaults: 127.0.0.1:9121, its network on 172.31.4.0/24. */
    metrics?: MetricsArgs | boolean;
}

/**
 * Every check RedisCluster makes, as a pure function of its name and args (a program can run it for all its
 * components before creating any): the planned nodes, the hosts (default: the local engine), each host's subnet and
 * the node timeout.
 */
export function resolveClusterArgs(
    name: string,
    args: RedisClusterArgs = {},
): {
    nodes: PlannedNode[];
    hosts: ClusterHost[];
    subnets: Map<string, string>;
    nodeTimeoutMs: number;
    appendonly: boolean;
    appendfsync: AppendFsync;
    certificates: Required<CertificateLifetime>;
    metrics?: MetricsPlan;
    passwordGraceSeconds: number;
    tls: boolean;
    mutualTls: boolean;
    loopbackSans: boolean;
    internalNetwork: boolean;
} {
    const d = CLUSTER_DEFAULTS;
    const hosts: ClusterHost[] = args.hosts ?? [...d.hosts];
    if (!Array.isArray(hosts)) v.fail("hosts", "a list of hosts ({ name, dockerHost?, subnet? })", hosts);
    hosts.forEach((h, i) => {
        if (!h || typeof h !== "object") v.fail(`hosts[${i}]`, "a host { name, dockerHost?, subnet? }", h);
        if (h.dockerHost !== undefined) v.dockerHost(`hosts[${i}].dockerHost`, h.dockerHost);
        if (h.dockerHost !== undefined && h.provider) v.fail(`hosts[${i}]`, "given a provider or a dockerHost, not both", h.name);
    });
    // Two hosts on one engine would give it two overlapping (or unrouted) networks: Docker refuses the second mid-update.
    const engines = hosts.map(h => h.provider ?? h.dockerHost ?? "local");
    engines.forEach((e, i) => {
        const j = engines.indexOf(e);
        if (j < i)
            v.fail(
                `hosts[${i}]`,
                `on a Docker engine of its own (a provider or dockerHost that hosts[${j}] does not have; one host at most may be the local engine)`,
                hosts[i].name,
            );
    });
    const shape = {
        name,
        masters: args.masters ?? d.masters,
        replicasPerMaster: args.replicasPerMaster ?? d.replicasPerMaster,
        hosts: hosts.map(h => ({ name: h.name, subnet: h.subnet })),
        subnet: args.subnet ?? d.subnet,
        port: args.port ?? d.port,
    };
    const nodes = placeClusterNodes(shape);
    checkAntiAffinity(args.antiAffinity ?? d.antiAffinity, hosts.length, shape.replicasPerMaster);
    if (args.maxmemory !== undefined) v.memorySize("maxmemory", args.maxmemory);
    if (args.maxmemoryPolicy !== undefined) v.maxmemoryPolicy("maxmemoryPolicy", args.maxmemoryPolicy);
    if (args.appRules !== undefined) v.aclRules("appRules", args.appRules);
    checkPasswordRotation("passwordRotation", args.passwordRotation);
    const passwordGraceSeconds = checkGraceSeconds("passwordGraceSeconds", args.passwordGraceSeconds);
    if (args.image !== undefined) v.imageRef("image", args.image);
    const tls = v.flag("tls", args.tls ?? d.tls);
    if (!tls && hosts.length > 1 && !v.flag("allowPlaintextAcrossHosts", args.allowPlaintextAcrossHosts ?? d.allowPlaintextAcrossHosts)) {
        v.fail(
            "tls",
            "true when the cluster spans several hosts (passwords would cross the network in clear, e.g. MIGRATE's AUTH2), unless allowPlaintextAcrossHosts is true",
            false,
        );
    }
    const mutualTls = v.flag("mutualTls", args.mutualTls ?? d.mutualTls);
    if (mutualTls && !tls) v.fail("mutualTls", "false when tls is false (client certificates need TLS)", args.mutualTls);
    // Internal networks have no route out, so nodes on different engines could not reach each other.
    // Its default depends on the hosts: internal on one, not across several.
    const internalNetwork = v.flag("internalNetwork", args.internalNetwork ?? hosts.length === 1);
    if (internalNetwork && hosts.length > 1) {
        v.fail(
            "internalNetwork",
            "false (or unset) when the cluster spans several hosts (internal networks have no route between engines)",
            args.internalNetwork,
        );
    }
    const nodeTimeoutMs = v.intInRange("nodeTimeoutMs", args.nodeTimeoutMs ?? d.nodeTimeoutMs, 500, 120_000);
    const appendonly = v.flag("appendonly", args.appendonly ?? d.appendonly);
    const appendfsync = v.oneOf("appendfsync", args.appendfsync ?? d.appendfsync, APPENDFSYNC);
    const loopbackSans = v.flag("loopbackSans", args.loopbackSans ?? d.loopbackSans);
    const certificates = certificateLifetime("certificates", args.certificates);
    const metrics = metricsPlan(args.metrics ?? d.metrics, d.exporter);
    caRotation("ca", args.ca);
    return {
        nodes,
        hosts,
        subnets: new Map(Object.entries(hostSubnets(shape))),
        nodeTimeoutMs,
        appendonly,
        appendfsync,
        certificates,
        metrics,
        passwordGraceSeconds,
        tls,
        mutualTls,
        loopbackSans,
        internalNetwork,
    };
}

/**
 * RedisClusterOutputs as a program exports them (program.ts's `cluster` output): the plan, the node ids and drift, the
 * TLS material and the users. The guard and the backup read them back (`guard --stack`, `targetFromOutputs`).
 */
export function clusterOutputs(c: RedisCluster): Exported<RedisClusterOutputs> {
    return {
        nodes: c.nodes,
        nodeIds: c.nodeIds,
        drift: c.drift,
        tls: c.tls,
        caCertPem: c.caCertPem,
        ...(c.clientCertPem && { clientCertPem: c.clientCertPem, clientKeyPem: c.clientKeyPem }),
        appUser: c.appUser,
        adminUser: c.adminUser,
        ...(c.metrics && { metrics: c.metrics }),
    };
}

export class RedisCluster extends pulumi.ComponentResource {
    readonly nodes: PlannedNode[];
    readonly nodeIds: pulumi.Output<Record<string, string>>;
    /** Where the live cluster differed from the plan at the last `pulumi up` or `refresh` (empty: it matched). */
    readonly drift: pulumi.Output<string[]>;
    readonly caCertPem: pulumi.Output<string>;
    /** With `mutualTls` only: the application's client certificate. */
    readonly clientCertPem?: pulumi.Output<string>;
    /** Secret; with `mutualTls` only. */
    readonly clientKeyPem?: pulumi.Output<string>;
    readonly appUser: { username: string; password: pulumi.Output<string> };
    readonly adminUser: { username: string; password: pulumi.Output<string> };
    readonly tls: boolean;
    /** Whether node certificates also name 127.0.0.1 (what a client reaching nodes through loopback checks). */
    readonly loopbackSans: boolean;
    /** Each host's engine and node network, for components that put containers beside the nodes (ClusterGateway). */
    readonly hostNetworks: ClusterHostNetwork[];
    /** With `metrics`: the exporter's `/metrics` (the first node) and each node's scrape URL. */
    readonly metrics?: MetricsOutput;

    constructor(name: string, args: RedisClusterArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        super("redis-secure-topologies:cluster:RedisCluster", name, {}, opts);
        const {
            nodes,
            hosts: hostArgs,
            subnets,
            nodeTimeoutMs,
            appendonly,
            appendfsync,
            certificates,
            metrics,
            passwordGraceSeconds,
            tls,
            mutualTls,
            loopbackSans: loopback,
            internalNetwork: internal,
        } = resolveClusterArgs(name, args);
        this.nodes = nodes;
        this.tls = tls;
        const mutual = tls && mutualTls;
        const hosts = hostArgs.map((h, i) => ({
            ...h,
            provider:
                h.provider ??
                (h.dockerHost
                    ? engineProvider(`${name}-engine-${h.name}`, `hosts[${i}].dockerHost`, h.name, h.dockerHost, { parent: this })
                    : undefined),
        }));

        const users = new RedisUsers(
            `${name}-users`,
            { appRules: args.appRules, passwordRotation: args.passwordRotation },
            { parent: this },
        );
        const { ca, bundle } = rotatingCa(name, "ca", args.ca, { parent: this });
        const client = mutual
            ? new Certificate(`${name}-client`, { ca, commonName: `${name}-client`, use: "client", ...certificates }, { parent: this })
            : undefined;
        // The bootstrap and the rotation are clients like any other: a client certificate only when the nodes ask for one.
        const clientTls = this.tls ? clientTlsMaterial(bundle, client) : undefined;
        // Every cluster node may become a replica (failover), so every one gets masterauth.
        const passwords = new PasswordRotation(
            `${name}-passwords`,
            {
                owner: name,
                nodes: this.nodes.map(n => ({ name: n.name, host: n.ip, port: n.port, tls: this.tls, masterauth: true })),
                wanted: users.hashes,
                admin: users.adminAuth,
                replicationPassword: users.replication.password,
                tls: clientTls,
                graceSeconds: passwordGraceSeconds,
            },
            { parent: this },
        );
        const networks = new Map(
            hosts.map(h => [
                h.name,
                new docker.Network(
                    `${name}-net-${h.name}`,
                    {
                        name: `${name}-net-${h.name}`,
                        ipamConfigs: [{ subnet: subnets.get(h.name) }],
                        internal,
                    },
                    { parent: this, provider: h.provider },
                ),
            ]),
        );

        const images = new Map(
            hosts.map(h => [
                h.name,
                engineImage(`${name}-${h.name}`, args.image ?? CLUSTER_DEFAULTS.image, { parent: this, provider: h.provider }),
            ]),
        );
        this.loopbackSans = loopback;
        this.hostNetworks = hosts.map(h => ({
            name: h.name,
            provider: h.provider,
            dockerHost: h.dockerHost,
            subnet: subnets.get(h.name)!,
            networkName: networks.get(h.name)!.name,
        }));

        const redis = this.nodes.map(n =>
            secureNode(
                n.name,
                {
                    certificate: this.tls ? { ca, caPem: bundle, use: "peer", loopbackSans: loopback, lifetime: certificates } : undefined,
                    node: {
                        image: images.get(n.host)!,
                        networkName: networks.get(n.host)!.name,
                        ipv4Address: n.ip,
                        conf: {
                            port: this.tls ? 0 : n.port,
                            tls: this.tls ? { port: n.port, mutual } : undefined,
                            cluster: { announceIp: n.ip, announcePort: n.port, announceBusPort: n.busPort, nodeTimeoutMs },
                            replicationUser: { name: users.replication.username },
                            maxmemory: args.maxmemory,
                            maxmemoryPolicy: args.maxmemoryPolicy,
                            appendonly,
                            appendfsync,
                        },
                        replicationPassword: users.replication.password,
                        aclFile: users.aclFileFor(passwords.live),
                        livePasswords: { aclRules: users.aclRules },
                        crashRestartDelayMs: crashRestartDelayMs(nodeTimeoutMs),
                    },
                    reload: { port: n.port, replica: n.role === "replica", cluster: true },
                },
                { parent: this, provider: hosts.find(h => h.name === n.host)!.provider },
            ),
        );
        const containers = redis.map(r => r.container);
        // New certificates or CA reach the running nodes one at a time (their containers stay), before the bootstrap
        // connects with the new material.
        const reload = this.tls
            ? new TlsReload(
                  `${name}-tls-reload`,
                  {
                      topology: name,
                      nodes: redis.flatMap(r => r.reload ?? []),
                      caPem: bundle,
                      written: redis.map(r => r.hot),
                      auth: users.adminAuth,
                      client: client?.keyPair,
                  },
                  { parent: this, dependsOn: containers },
              )
            : undefined;

        const bootstrap = new ClusterBootstrap(
            `${name}-bootstrap`,
            {
                clusterName: name,
                nodes: this.nodes.map(({ host: _host, ...n }) => n),
                // The admin password the rotation has made live on every node, and the TLS material TlsReload has
                // loaded into every node, before the bootstrap runs.
                auth: users.adminAuth,
                tls: clientTls,
            },
            { parent: this, dependsOn: [...containers, passwords, ...(reload ? [reload] : [])] },
        );

        // One exporter for the cluster, on the first host's engine and network (hosts route to each other's nodes).
        if (metrics) {
            this.metrics = redisExporter(
                name,
                {
                    image: images.get(hosts[0].name)!,
                    nodeNetwork: networks.get(hosts[0].name)!.name,
                    plan: metrics,
                    user: users.metrics,
                    targets: this.nodes.map(n => ({ name: n.name, ip: n.ip, port: n.port, tls: this.tls })),
                    tls: this.tls ? { caPem: bundle, certPem: client?.certPem, keyPem: client?.privateKeyPem } : undefined,
                },
                { parent: this, provider: hosts[0].provider },
            );
        }
        this.nodeIds = bootstrap.nodeIds;
        this.drift = bootstrap.drift;
        this.caCertPem = bundle;
        this.clientCertPem = client?.certPem;
        this.clientKeyPem = client?.privateKeyPem;
        this.appUser = users.app;
        this.adminUser = users.admin;
        this.registerOutputs(clusterOutputs(this));
    }
}
