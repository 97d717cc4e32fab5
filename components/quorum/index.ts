// LockQuorum: N independent Redis masters for Redlock (no replication between them, by design: a replica that
// is promoted after a crash can forget a lock). Each node fsyncs every write (appendonly yes, appendfsync always)
// so a restarted node still knows the locks it granted. ACL users; TLS-only listeners when `tls` is on.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { CertificateAuthority } from "../pki";
import { DEFAULT_IMAGE, engineImage } from "../redis/node";
import { TlsReload } from "../redis/reload";
import { secureNode } from "../redis/secure";
import { RedisUsers, UserCredential } from "../redis/users";
import * as v from "../validate";

export interface QuorumShape {
    name: string;
    size: number;
    subnet: string;
    port: number;
}
export interface QuorumNode {
    name: string;
    ip: string;
    port: number;
}

/** An odd count from 3 to 15: an even count tolerates no more failures than the odd count below it. */
export function validateQuorumSize(size: unknown): number {
    if (typeof size !== "number" || !Number.isInteger(size) || size < 3 || size > 15 || size % 2 === 0) {
        v.fail("size", "an odd integer from 3 to 15 (a majority of an even count tolerates no more failures than one node fewer)", size);
    }
    return size;
}

/** Node names `${name}-0..`, fixed addresses from .10 of the subnet. */
export function planQuorum(s: QuorumShape): QuorumNode[] {
    v.dnsLabel("name", s.name);
    validateQuorumSize(s.size);
    const net = v.subnet("subnet", s.subnet);
    v.port("port", s.port);
    return Array.from({ length: s.size }, (_, i) => ({ name: `${s.name}-${i}`, ip: v.addressIn(net, 10 + i), port: s.port }));
}

/** LockQuorum's defaults: what an unset field of LockQuorumArgs means. */
export const QUORUM_DEFAULTS = Object.freeze({
    size: 5,
    subnet: "172.29.0.0/24",
    port: 6379,
    tls: false,
    image: DEFAULT_IMAGE,
} as const);

export interface LockQuorumArgs {
    /** Independent masters (default 5; odd, 3 to 15). Decides how many resources exist, so it is a plain number. */
    size?: number;
    /** The quorum's Docker network (default "172.29.0.0/24"); nodes get fixed addresses from .10 up. */
    subnet?: string;
    /** Redis port (default 6379); TLS when `tls` is on. */
    port?: number;
    /** TLS-only listeners with a per-quorum CA (default false). */
    tls?: boolean;
    /** ACL rules of the application user (default: no @dangerous or @admin commands). */
    appRules?: string;
    image?: string;
    provider?: docker.Provider;
}

export class LockQuorum extends pulumi.ComponentResource {
    readonly nodes: QuorumNode[];
    readonly appUser: UserCredential;
    /** Operations (INFO, CONFIG); its password is secret. */
    readonly adminUser: UserCredential;
    /** The quorum's Docker network (e.g. for a SpipedTunnel in front of a node). */
    readonly networkName: pulumi.Output<string>;
    readonly tls: boolean;
    /** The CA clients trust when `tls` is on. */
    readonly caCertPem?: pulumi.Output<string>;

    constructor(name: string, args: LockQuorumArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        // Its type said "client" until it moved out of the client toolkit (it provisions servers): the alias keeps
        // stacks made before that from replacing it.
        super(
            "redis-secure-topologies:quorum:LockQuorum",
            name,
            {},
            { ...opts, aliases: [{ type: "redis-secure-topologies:client:LockQuorum" }, ...(opts?.aliases ?? [])] },
        );
        const d = QUORUM_DEFAULTS;
        const subnet = args.subnet ?? d.subnet;
        this.nodes = planQuorum({ name, size: args.size ?? d.size, subnet, port: args.port ?? d.port });
        this.tls = v.flag("tls", args.tls ?? d.tls);
        if (args.appRules !== undefined) v.aclRules("appRules", args.appRules);
        if (args.image !== undefined) v.imageRef("image", args.image);
        const child = { parent: this, provider: args.provider };
        const network = new docker.Network(`${name}-net`, { name: `${name}-net`, ipamConfigs: [{ subnet }] }, child);
        const users = new RedisUsers(`${name}-users`, { appRules: args.appRules }, { parent: this });
        const ca = this.tls ? new CertificateAuthority(`${name}-ca`, {}, { parent: this }) : undefined;
        const image = engineImage(name, args.image ?? d.image, child);
        const nodes = this.nodes.map(n =>
            secureNode(
                n.name,
                {
                    certificate: ca && { ca, caPem: ca.certPem, use: "server", loopbackSans: true },
                    node: {
                        image,
                        networkName: network.name,
                        ipv4Address: n.ip,
                        conf: {
                            port: this.tls ? 0 : n.port,
                            tls: this.tls ? { port: n.port, mutual: false } : undefined,
                            appendonly: true,
                            appendfsync: "always",
                        },
                        aclFile: users.aclFile,
                    },
                    reload: { port: n.port, replica: false, cluster: false },
                },
                child,
            ),
        );
        // A renewed certificate reaches the running nodes one at a time (their containers stay).
        if (ca) {
            new TlsReload(
                `${name}-tls-reload`,
                {
                    topology: name,
                    nodes: nodes.flatMap(r => r.reload ?? []),
                    caPem: ca.certPem,
                    written: nodes.map(r => r.hot),
                    auth: users.adminAuth,
                },
                { parent: this, dependsOn: nodes.map(r => r.container) },
            );
        }
        this.appUser = users.app;
        this.adminUser = users.admin;
        this.networkName = network.name;
        this.caCertPem = ca?.certPem;
        this.registerOutputs({
            nodes: this.nodes,
            appUser: this.appUser,
            adminUser: this.adminUser,
            networkName: this.networkName,
            caCertPem: this.caCertPem,
        });
    }
}
