// ReplicationChain: a master and a chain of replicas, each hop plain or TLS (seed: A plain -> B -> C over TLS only).
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { CaRotation, caRotation, Certificate, CertificateLifetime, certificateLifetime, clientTlsMaterial, rotatingCa } from "../pki";
import { MetricsArgs, MetricsOutput, metricsPlan, redisExporter } from "../metrics";
import { APPENDFSYNC, AppendFsync } from "../redis/conf";
import { DEFAULT_IMAGE, engineImage } from "../redis/node";
import { TlsReload } from "../redis/reload";
import { PasswordRotation } from "../redis/rotation";
import { SecureNode, secureNode } from "../redis/secure";
import { checkGraceSeconds, checkPasswordRotation, RedisUsers, UserPasswordRotation } from "../redis/users";
import * as v from "../validate";
import { ChainNode, placeChainNodes, Transport } from "./plan";

export { ChainNode, placeChainNodes, Transport, validateChain } from "./plan";

/** ReplicationChain's defaults: what an unset field of ReplicationChainArgs means (program.ts's stack config defaults
 *  use them too). headListener's depends on the hops (see resolveChain). */
export const CHAIN_DEFAULTS = Object.freeze({
    hops: Object.freeze(["plain", "tls"] as const),
    mutualTls: false,
    loopbackSans: false,
    plainPort: 6379,
    tlsPort: 6380,
    subnet: "172.31.0.0/24",
    internalNetwork: true,
    image: DEFAULT_IMAGE,
    /** The head's; replicas always log with "everysec". */
    appendfsync: "always",
    /** No exporter. */
    metrics: false,
    /** The exporter's listener port and network, for `metrics: true` (or metrics that do not set them). */
    exporter: Object.freeze({ listenPort: 9122, subnet: "172.31.5.0/24" }),
} as const);

export interface ReplicationChainArgs {
    /** Transport of each replication hop; the chain has hops.length + 1 nodes (default ["plain", "tls"]). */
    hops?: Transport[];
    /** How clients reach the master (default "tls" when every hop is TLS, else "plain" as in the seed). */
    headListener?: Transport;
    /** Require client certificates on TLS listeners (default false). */
    mutualTls?: boolean;
    /** Also put localhost and 127.0.0.1 in node certificates (default false), for clients of a port forwarded to loopback. */
    loopbackSans?: boolean;
    /** The node and client certificates' validity and early renewal. A `pulumi up` inside the renewal window issues new
     *  ones, which the running nodes load one at a time (TlsReload): no container is replaced. */
    certificates?: CertificateLifetime;
    /** Raise `ca.generation` by one to rotate the CA: the nodes trust both CAs, move to certificates of the new one one
     *  at a time, and drop the old one on the next `pulumi up` after `ca.graceHours` (default 0). */
    ca?: CaRotation;
    plainPort?: number;
    tlsPort?: number;
    /** The chain's own Docker network (default "172.31.0.0/24"). */
    subnet?: string;
    /** Keep node traffic on an internal Docker network with no route to other networks (default true). */
    internalNetwork?: boolean;
    image?: string;
    maxmemory?: string;
    maxmemoryPolicy?: string;
    /** When the head (the only writable node) fsyncs its append-only file (default "always": every write is on disk
     *  before it is acknowledged). A chain has no failover: B and C resync from whatever the head restarts with, so
     *  what the head loses they lose too. Replicas log with "everysec". */
    appendfsync?: AppendFsync;
    /** Docker provider (default: the local engine). */
    provider?: docker.Provider;
    /** A Prometheus exporter for every node (one container, `/scrape?target=` per node; TLS where a node listens on
     *  TLS), logged in as the read-only `metrics` user; `true` for the defaults: 127.0.0.1:9122, its network on 172.31.5.0/24. */
    metrics?: MetricsArgs | boolean;
    /** Per user (app, admin, replication), a value whose change rotates that user's password live (as RedisCluster's). */
    passwordRotation?: UserPasswordRotation;
    /** How long the old password of a rotation keeps working (default 0: until the next `pulumi up`). */
    passwordGraceSeconds?: number;
}

export interface ChainNodeOutput extends ChainNode {
    role: "master" | "replica";
}

/** Every check ReplicationChain makes, as a pure function (a program can run it before creating anything): its nodes. */
export function resolveChainArgs(name: string, args: ReplicationChainArgs = {}): ChainNode[] {
    return resolveChain(name, args).plan;
}

/** resolveChainArgs, with the settings it checked (defaults applied) for the component. */
function resolveChain(name: string, args: ReplicationChainArgs) {
    const d = CHAIN_DEFAULTS;
    const appendfsync = v.oneOf("appendfsync", args.appendfsync ?? d.appendfsync, APPENDFSYNC);
    const hops = args.hops ?? [...d.hops];
    const subnet = args.subnet ?? d.subnet;
    const certificates = certificateLifetime("certificates", args.certificates);
    caRotation("ca", args.ca);
    const plan = placeChainNodes({
        name,
        hops,
        // A chain that replicates over TLS only does not take the app password in plain text at its head either.
        headListener: args.headListener ?? (Array.isArray(hops) && hops.every(h => h === "tls") ? "tls" : "plain"),
        plainPort: args.plainPort ?? d.plainPort,
        tlsPort: args.tlsPort ?? d.tlsPort,
        subnet,
    });
    if (args.maxmemory !== undefined) v.memorySize("maxmemory", args.maxmemory);
    if (args.maxmemoryPolicy !== undefined) v.maxmemoryPolicy("maxmemoryPolicy", args.maxmemoryPolicy);
    if (args.image !== undefined) v.imageRef("image", args.image);
    const internalNetwork = v.flag("internalNetwork", args.internalNetwork ?? d.internalNetwork);
    checkPasswordRotation("passwordRotation", args.passwordRotation);
    const passwordGraceSeconds = checkGraceSeconds("passwordGraceSeconds", args.passwordGraceSeconds);
    const loopbackSans = v.flag("loopbackSans", args.loopbackSans ?? d.loopbackSans);
    const mutualTls = v.flag("mutualTls", args.mutualTls ?? d.mutualTls);
    if (mutualTls && plan.every(n => n.tlsPort === 0)) {
        v.fail("mutualTls", 'false when no node has a TLS listener (every hop and headListener are "plain")', args.mutualTls);
    }
    const metrics = chainMetricsPlan(args);
    return { plan, appendfsync, subnet, certificates, internalNetwork, loopbackSans, mutualTls, metrics, passwordGraceSeconds };
}

/** The chain's exporter settings (undefined: no exporter), checked. */
export const chainMetricsPlan = (args: ReplicationChainArgs) =>
    metricsPlan(args.metrics ?? CHAIN_DEFAULTS.metrics, CHAIN_DEFAULTS.exporter);

export class ReplicationChain extends pulumi.ComponentResource {
    readonly nodes: ChainNodeOutput[];
    readonly networkName: pulumi.Output<string>;
    readonly caCertPem: pulumi.Output<string>;
    /** Client certificate and key (secret) for mutual TLS; also valid when mTLS is off. */
    readonly clientCertPem: pulumi.Output<string>;
    readonly clientKeyPem: pulumi.Output<string>;
    readonly appUser: { username: string; password: pulumi.Output<string> };
    /** Operations (INFO, replication state, CONFIG); its password is secret. */
    readonly adminUser: { username: string; password: pulumi.Output<string> };
    /** With `metrics`: the exporter's `/metrics` (the head) and each node's scrape URL. */
    readonly metrics?: MetricsOutput;

    constructor(name: string, args: ReplicationChainArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        super("redis-secure-topologies:replication:ReplicationChain", name, {}, opts);
        const { plan, appendfsync, subnet, certificates, internalNetwork, loopbackSans, mutualTls, metrics, passwordGraceSeconds } =
            resolveChain(name, args);
        const child = { parent: this, provider: args.provider };
        const network = new docker.Network(
            `${name}-net`,
            {
                name: `${name}-net`,
                ipamConfigs: [{ subnet }],
                internal: internalNetwork,
            },
            child,
        );
        const users = new RedisUsers(`${name}-users`, { passwordRotation: args.passwordRotation }, { parent: this });
        const { ca, bundle } = rotatingCa(name, "ca", args.ca, { parent: this });
        const client = new Certificate(
            `${name}-client`,
            { ca, commonName: `${name}-client`, use: "client", ...certificates },
            { parent: this },
        );
        // Through each node's own listener: plain when it has one, else TLS with the client certificate.
        const passwords = new PasswordRotation(
            `${name}-passwords`,
            {
                owner: name,
                nodes: plan.map(n => ({
                    name: n.name,
                    host: n.ip,
                    port: n.plainPort || n.tlsPort,
                    tls: !n.plainPort,
                    masterauth: !!n.replicaOf,
                })),
                wanted: users.hashes,
                admin: users.adminAuth,
                replicationPassword: users.replication.password,
                tls: clientTlsMaterial(bundle, client),
                graceSeconds: passwordGraceSeconds,
            },
            { parent: this },
        );
        const image = engineImage(name, args.image ?? CHAIN_DEFAULTS.image, child);
        // Every node has a certificate, even one that listens plain only (its redis.conf names no TLS file); TlsReload
        // reloads the TLS listeners.
        const nodes: SecureNode[] = [];
        for (const n of plan) {
            nodes.push(
                secureNode(
                    n.name,
                    {
                        certificate: { ca, caPem: bundle, use: "peer", loopbackSans, lifetime: certificates },
                        node: {
                            image,
                            networkName: network.name,
                            ipv4Address: n.ip,
                            conf: {
                                port: n.plainPort,
                                tls: n.tlsPort ? { port: n.tlsPort, mutual: mutualTls } : undefined,
                                replicaOf: n.replicaOf && { host: n.replicaOf.ip, port: n.replicaOf.port, tls: n.replicaOf.tls },
                                replicationUser: n.replicaOf && { name: users.replication.username },
                                maxmemory: args.maxmemory,
                                maxmemoryPolicy: args.maxmemoryPolicy,
                                appendonly: true,
                                appendfsync: n.replicaOf ? "everysec" : appendfsync,
                            },
                            replicationPassword: users.replication.password,
                            aclFile: users.aclFileFor(passwords.live),
                            livePasswords: { aclRules: users.aclRules },
                        },
                        reload: n.tlsPort ? { port: n.tlsPort, replica: !!n.replicaOf, cluster: false } : undefined,
                    },
                    // Replicas start after their master so the first sync does not wait on a retry.
                    { ...child, dependsOn: nodes.slice(-1).map(p => p.container) },
                ),
            );
        }
        const reloads = nodes.flatMap(r => r.reload ?? []);
        // New certificates or CA reach the running TLS listeners one at a time (their containers stay).
        if (reloads.length) {
            new TlsReload(
                `${name}-tls-reload`,
                {
                    topology: name,
                    nodes: reloads,
                    caPem: bundle,
                    written: nodes.map(r => r.hot),
                    auth: users.adminAuth,
                    client: client.keyPair,
                },
                { parent: this, dependsOn: nodes.map(r => r.container) },
            );
        }
        if (metrics) {
            this.metrics = redisExporter(
                name,
                {
                    image,
                    nodeNetwork: network.name,
                    plan: metrics,
                    user: users.metrics,
                    targets: plan.map(n => ({ name: n.name, ip: n.ip, port: n.tlsPort || n.plainPort, tls: n.tlsPort !== 0 })),
                    tls: { caPem: bundle, ...(mutualTls ? { certPem: client.certPem, keyPem: client.privateKeyPem } : {}) },
                },
                child,
            );
        }
        this.nodes = plan.map((n, i) => ({ ...n, role: i === 0 ? "master" : "replica" }));
        this.networkName = network.name;
        this.caCertPem = bundle;
        this.clientCertPem = client.certPem;
        this.clientKeyPem = client.privateKeyPem;
        this.appUser = users.app;
        this.adminUser = users.admin;
        this.registerOutputs({
            nodes: this.nodes,
            networkName: this.networkName,
            caCertPem: this.caCertPem,
            clientCertPem: this.clientCertPem,
            clientKeyPem: this.clientKeyPem,
            appUser: this.appUser,
            adminUser: this.adminUser,
            ...(this.metrics && { metrics: this.metrics }),
        });
    }
}
