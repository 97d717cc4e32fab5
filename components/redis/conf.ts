// Pure rendering of redis.conf and ACL files. Every component builds its Redis configuration here,
// so what a node runs with is testable without Docker or Pulumi.

/** Where the files a component uploads live inside every container. */
export const CONF_DIR = "/etc/redis-secure";
export const TLS_DIR = `${CONF_DIR}/tls`;

export interface TlsListener {
    /** TLS port; `port` (plain) may be 0 to make the node TLS-only. */
    port: number;
    /** Require client certificates issued by the CA (`tls-auth-clients yes`). */
    mutual: boolean;
}

export interface NodeConf {
    /** Plain TCP port; 0 disables the plain listener. */
    port: number;
    tls?: TlsListener;
    /** Replicate from this master (`replicaof`). */
    replicaOf?: { host: string; port: number; tls: boolean };
    /** Cluster mode: the address this node announces to clients and peers. */
    cluster?: { announceIp: string; announcePort: number; announceBusPort: number; nodeTimeoutMs: number };
    /** The user replicas authenticate as (`masteruser`/`masterauth`). */
    replicationUser?: { name: string; password?: string };
    maxmemory?: string;
    maxmemoryPolicy?: string;
    appendonly?: boolean;
    appendfsync?: "always" | "everysec" | "no";
}

/** redis.conf lines for one node. Secrets (the replication password) appear only here, in an uploaded file. */
export function renderRedisConf(c: NodeConf): string {
    const lines: string[] = [
        "bind 0.0.0.0",
        "protected-mode yes",
        `port ${c.port}`,
        `aclfile ${CONF_DIR}/users.acl`,
        "dir /data",
        // Replicas link up without waiting for more replicas to arrive.
        "repl-diskless-sync yes",
        "repl-diskless-sync-delay 0",
    ];
    if (c.tls) {
        lines.push(
            `tls-port ${c.tls.port}`,
            `tls-cert-file ${TLS_DIR}/node.crt`,
            `tls-key-file ${TLS_DIR}/node.key`,
            `tls-ca-cert-file ${TLS_DIR}/ca.crt`,
            // Nodes are TLS clients too (replication, cluster bus): the same cert serves both ends.
            `tls-client-cert-file ${TLS_DIR}/node.crt`,
            `tls-client-key-file ${TLS_DIR}/node.key`,
            `tls-auth-clients ${c.tls.mutual ? "yes" : "no"}`,
            "tls-protocols \"TLSv1.2 TLSv1.3\"",
        );
    }
    if (c.replicaOf) {
        lines.push(`replicaof ${c.replicaOf.host} ${c.replicaOf.port}`);
        if (c.replicaOf.tls) lines.push("tls-replication yes");
    }
    if (c.cluster) {
        lines.push(
            "cluster-enabled yes",
            "cluster-config-file /data/nodes.conf",
            `cluster-node-timeout ${c.cluster.nodeTimeoutMs}`,
            `cluster-announce-ip ${c.cluster.announceIp}`,
            c.tls ? `cluster-announce-tls-port ${c.cluster.announcePort}` : `cluster-announce-port ${c.cluster.announcePort}`,
            `cluster-announce-bus-port ${c.cluster.announceBusPort}`,
            "cluster-require-full-coverage yes",
        );
        if (c.tls) lines.push("tls-replication yes", "tls-cluster yes");
    }
    if (c.replicationUser) {
        lines.push(`masteruser ${c.replicationUser.name}`, `masterauth ${c.replicationUser.password ?? ""}`);
    }
    if (c.maxmemory) lines.push(`maxmemory ${c.maxmemory}`);
    if (c.maxmemoryPolicy) lines.push(`maxmemory-policy ${c.maxmemoryPolicy}`);
    if (c.appendonly) lines.push("appendonly yes", `appendfsync ${c.appendfsync ?? "everysec"}`);
    return lines.join("\n") + "\n";
}

export interface AclUser {
    name: string;
    password: string;
    /** ACL rules after the password, e.g. `~* &* +@all -@dangerous`. */
    rules: string;
}

/** The application user's default rules: every key and channel, nothing dangerous or administrative. */
export const APP_USER_RULES = "~* &* +@all -@dangerous -@admin";
/** A replica needs only these three commands on its master. */
export const REPLICATION_USER_RULES = "+psync +replconf +ping";
export const ADMIN_USER_RULES = "~* &* +@all";

/** users.acl content: the `default` user is always off; passwords are stored as given (file mode 0600). */
export function renderAclFile(users: AclUser[]): string {
    for (const u of users) {
        if (!/^[A-Za-z0-9_-]+$/.test(u.name)) throw new Error(`ACL user name "${u.name}" may use only letters, digits, _ and -`);
        if (/\s/.test(u.password) || u.password.length < 16) {
            throw new Error(`ACL user "${u.name}": password must be at least 16 characters without spaces`);
        }
    }
    return ["user default off", ...users.map(u => `user ${u.name} on >${u.password} ${u.rules}`)].join("\n") + "\n";
}
