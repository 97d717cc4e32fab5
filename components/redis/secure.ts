// A Redis node as every topology makes it: its certificate `<name>-tls` from the topology's CA, its container
// (redisNode) with that certificate's files, and its entry for the topology's TlsReload.
import * as pulumi from "@pulumi/pulumi";
import { Certificate, CertificateAuthority, CertificateLifetime, CertUse, nodeSans } from "../pki";
import { redisNode, RedisNode, RedisNodeArgs } from "./node";
import { ReloadNode, TlsReloadNode } from "./reload";

export interface SecureNodeArgs {
    /** The node's certificate (none: the node gets no TLS files). */
    certificate?: {
        ca: CertificateAuthority;
        /** What the node trusts: the CA's certificate, or the bundle of a CA rotation. */
        caPem: pulumi.Input<string>;
        use: CertUse;
        /** Also name localhost and 127.0.0.1 (nodeSans), for clients of a port forwarded to loopback. */
        loopbackSans: boolean;
        lifetime?: CertificateLifetime;
    };
    /** The container; its static address is the certificate's IP SAN and where TlsReload connects. */
    node: Omit<RedisNodeArgs, "tls"> & { ipv4Address: string };
    /** The node's TLS listener that TlsReload reloads (none: it has none), and whether it checks replica or cluster health. */
    reload?: Pick<ReloadNode, "port" | "replica" | "cluster">;
}

/** A node's container, and with a certificate and a `reload` listener, its TlsReload entry. */
export interface SecureNode extends RedisNode {
    reload?: TlsReloadNode;
}

/** `opts` are the container's; the certificate has only their parent (it holds no Docker resource). */
export function secureNode(name: string, a: SecureNodeArgs, opts: pulumi.CustomResourceOptions): SecureNode {
    const c = a.certificate;
    const host = a.node.ipv4Address;
    const cert =
        c &&
        new Certificate(
            `${name}-tls`,
            { ca: c.ca, commonName: name, use: c.use, ...nodeSans({ name, ip: host }, c.loopbackSans), ...c.lifetime },
            { parent: opts.parent },
        );
    const node = redisNode(
        name,
        { ...a.node, tls: c && cert && { caPem: c.caPem, certPem: cert.certPem, keyPem: cert.privateKeyPem } },
        opts,
    );
    return {
        ...node,
        reload: cert && a.reload && { name, host, ...a.reload, dir: node.tlsDir!, certPem: cert.certPem },
    };
}
