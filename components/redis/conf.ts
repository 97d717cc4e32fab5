// Pure rendering of redis.conf and ACL files. Every component builds its Redis configuration here,
// so what a node runs with is testable without Docker or Pulumi.

/** Where the files a component uploads live inside every container. */
export const CONF_DIR = "/etc/redis-secure";
export const TLS_DIR = `${CONF_DIR}/tls`;
/** The container's command: a small sh script (renderStartScript) that runs redis-server as its child. */
export const START_SCRIPT = `${CONF_DIR}/start.sh`;
/** The node's data volume: AOF, RDB and the cluster's nodes.conf. */
export const DATA_DIR = "/data";
/** Exists while redis-server runs; removed only when it exits 0 (a clean shutdown), so finding it at start means a crash. */
export const RUNNING_MARKER = `${DATA_DIR}/.redis-running`;
/** The ACL file every node loads at start (users with their live password hashes). */
export const ACL_FILE = `${CONF_DIR}/users.acl`;
/** The replication password (`masterauth`), in a file of its own that redis.conf includes: a rotation rewrites it
 *  (and sets it live with CONFIG SET) without changing redis.conf, so the node keeps running. */
export const MASTERAUTH_FILE = `${CONF_DIR}/masterauth.conf`;
/** The unprivileged user redis-server runs as (the Debian package's). */
export const REDIS_USER = "redis";

export const APPENDFSYNC = ["always", "everysec", "no"] as const;
export type AppendFsync = (typeof APPENDFSYNC)[number];

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
    /** The user replicas authenticate as (`masteruser`/`masterauth`). Without `password`, redis.conf includes
     *  MASTERAUTH_FILE for it (renderMasterauthConf), which is how the components deliver it. */
    replicationUser?: { name: string; password?: string };
    maxmemory?: string;
    maxmemoryPolicy?: string;
    appendonly?: boolean;
    appendfsync?: AppendFsync;
}

/** redis.conf lines for one node. Secrets (the replication password) appear only here, in a file the node's writer delivers. */
export function renderRedisConf(c: NodeConf): string {
    const lines: string[] = [
        "bind 0.0.0.0",
        "protected-mode yes",
        `port ${c.port}`,
        `aclfile ${ACL_FILE}`,
        `dir ${DATA_DIR}`,
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
            'tls-protocols "TLSv1.2 TLSv1.3"',
        );
    }
    if (c.replicaOf) {
        lines.push(`replicaof ${c.replicaOf.host} ${c.replicaOf.port}`);
        if (c.replicaOf.tls) lines.push("tls-replication yes");
    }
    if (c.cluster) {
        lines.push(
            "cluster-enabled yes",
            `cluster-config-file ${DATA_DIR}/nodes.conf`,
            `cluster-node-timeout ${c.cluster.nodeTimeoutMs}`,
            `cluster-announce-ip ${c.cluster.announceIp}`,
            c.tls ? `cluster-announce-tls-port ${c.cluster.announcePort}` : `cluster-announce-port ${c.cluster.announcePort}`,
            `cluster-announce-bus-port ${c.cluster.announceBusPort}`,
            "cluster-require-full-coverage yes",
        );
        if (c.tls) lines.push("tls-replication yes", "tls-cluster yes");
    }
    if (c.replicationUser) {
        lines.push(
            `masteruser ${c.replicationUser.name}`,
            c.replicationUser.password === undefined ? `include ${MASTERAUTH_FILE}` : `masterauth ${c.replicationUser.password}`,
        );
    }
    if (c.maxmemory) lines.push(`maxmemory ${c.maxmemory}`);
    if (c.maxmemoryPolicy) lines.push(`maxmemory-policy ${c.maxmemoryPolicy}`);
    if (c.appendonly) lines.push("appendonly yes", `appendfsync ${c.appendfsync ?? "everysec"}`);
    // The components validate every value at preview; this is the last line of defence against a new directive.
    const bad = lines.find(l => /[\r\n]/.test(l));
    if (bad) throw new Error(`redis.conf line ${JSON.stringify(bad)} holds a line break`);
    return lines.join("\n") + "\n";
}

/**
 * The container memory limit for a node with `maxmemory` (none without it): twice maxmemory, since a BGSAVE or AOF
 * rewrite forks and copy-on-write can touch every page once more, plus 128 MiB for Redis itself, buffers and the shell.
 * Redis units: kb, mb, gb are powers of 1024; a bare number is bytes.
 */
export function memoryLimitMb(maxmemory: string | undefined): number | undefined {
    const m = maxmemory === undefined ? null : /^([0-9]+)(b|kb|mb|gb)?$/i.exec(maxmemory);
    if (!m) return undefined;
    const bytes = Number(m[1]) * 1024 ** ["b", "kb", "mb", "gb"].indexOf((m[2] ?? "b").toLowerCase());
    return Math.ceil((2 * bytes) / 2 ** 20) + 128;
}

/**
 * How long a cluster node that was a master when it died uncleanly (SIGKILL, OOM kill, crash) waits before starting
 * redis-server again. Its replica is promoted about nodeTimeout + 1-2 s after the crash (PFAIL after the timeout, FAIL
 * once a majority of masters agree, then the election after 0.5-1 s); until then a quick restart would come back as the
 * master with whatever its disk holds and make its replica resync from it, dropping writes the replica acknowledged
 * (WAIT). Twice the timeout plus 2 s leaves room; the node then rejoins as its old replica's replica (nodes.conf) and
 * Redis keeps it read-only for 2 s after start (CLUSTER_WRITABLE_DELAY) while it learns that.
 */
export function crashRestartDelayMs(nodeTimeoutMs: number): number {
    return 2 * nodeTimeoutMs + 2000;
}

/**
 * The container's start script (POSIX sh). It keeps RUNNING_MARKER on the data volume while redis-server runs, forwards
 * SIGTERM/SIGINT to it, and removes the marker only when redis-server exits 0 (a clean shutdown: it saved). With
 * `crashRestartDelayMs` > 0 (cluster nodes), a marker found at start on a node whose nodes.conf says it was a master
 * means it died uncleanly: it waits that long first, so the cluster fails over to its replica (see crashRestartDelayMs).
 */
export function renderStartScript(o: { crashRestartDelayMs: number }): string {
    const wait =
        o.crashRestartDelayMs > 0
            ? [
                  `if [ -e ${RUNNING_MARKER} ] && grep -qs 'myself,master' ${DATA_DIR}/nodes.conf; then`,
                  `  echo "start.sh: this master did not shut down cleanly: waiting ${o.crashRestartDelayMs} ms so the cluster fails over to its replica"`,
                  `  sleep ${(o.crashRestartDelayMs / 1000).toFixed(3)} & wait $!`,
                  "fi",
              ]
            : [];
    return (
        [
            "#!/bin/sh",
            "trap 'exit 143' TERM INT",
            ...wait,
            `touch ${RUNNING_MARKER}`,
            `redis-server ${CONF_DIR}/redis.conf & pid=$!`,
            "trap 'kill -TERM $pid' TERM INT",
            // wait returns early when a trapped signal arrives: wait again until redis-server is gone, for its exit status.
            "while :; do wait $pid; rc=$?; kill -0 $pid 2>/dev/null || break; done",
            `if [ $rc -eq 0 ]; then rm -f ${RUNNING_MARKER}; fi`,
            "exit $rc",
        ].join("\n") + "\n"
    );
}

export interface AclUser {
    name: string;
    /** The password in clear text (LockQuorum's nodes), or... */
    password?: string;
    /** ...the SHA-256 hashes of every password the user has (passwordHash), as Redis keeps them: a rotation lists two. */
    hashes?: string[];
    /** ACL rules after the password, e.g. `~* &* +@all -@dangerous`. */
    rules: string;
}

/** What Redis stores of a password (`ACL GETUSER`'s `passwords`, `#<hash>` in ACL rules): its SHA-256, in hex. */
export function passwordHash(password: string): string {
    return (require("crypto") as typeof import("crypto")).createHash("sha256").update(password).digest("hex");
}

/** A password a config file line can hold: at least 16 characters, no whitespace (it would end the value). */
const usablePassword = (p: string) => p.length >= 16 && !/\s/.test(p);

/** The masterauth file redis.conf includes (MASTERAUTH_FILE). */
export function renderMasterauthConf(password: string): string {
    if (!usablePassword(password)) throw new Error("masterauth: the replication password must be at least 16 characters without spaces");
    return `masterauth ${password}\n`;
}

/** The application user's default rules: every key, no pub/sub channel (ask with `&pattern` in appRules), nothing
 *  dangerous or administrative. */
export const APP_USER_RULES = "~* resetchannels +@all -@dangerous -@admin";
/** A replica needs only these three commands on its master. */
export const REPLICATION_USER_RULES = "+psync +replconf +ping";
export const ADMIN_USER_RULES = "~* &* +@all";
/** The metrics exporter (redis_exporter 1.45 as exporterCommand runs it): exactly the commands it was measured to run
 *  on a cluster master, a plain master and a replica (INFO commandstats around a scrape; ACL LOG of a user with only
 *  these stays empty), no key and no channel. CONFIG is off in the exporter: CONFIG GET * would show it masterauth. */
export const METRICS_USER_RULES =
    "resetkeys resetchannels -@all +info +cluster|info +slowlog|get +slowlog|len +latency|latest +client|setname";

/** users.acl content: the `default` user is always off; each user's passwords as given (`>clear`) or as their
 *  hashes (`#sha256`, what the rotating components write: then the file holds no password at all). Mode 0600. */
export function renderAclFile(users: AclUser[]): string {
    for (const u of users) {
        if (!/^[A-Za-z0-9_-]+$/.test(u.name)) throw new Error(`ACL user name "${u.name}" may use only letters, digits, _ and -`);
        if ((u.password === undefined) === (u.hashes === undefined)) throw new Error(`ACL user "${u.name}": give a password or its hashes`);
        if (u.password !== undefined && !usablePassword(u.password)) {
            throw new Error(`ACL user "${u.name}": password must be at least 16 characters without spaces`);
        }
        if (u.hashes !== undefined && (!u.hashes.length || u.hashes.some(h => !/^[0-9a-f]{64}$/.test(h)))) {
            throw new Error(`ACL user "${u.name}": password hashes must be SHA-256 in lower-case hex, at least one`);
        }
        if (/[\r\n]/.test(u.rules)) throw new Error(`ACL user "${u.name}": rules hold a line break (it would start a new user)`);
    }
    const secrets = (u: AclUser) => (u.password !== undefined ? `>${u.password}` : u.hashes!.map(h => `#${h}`).join(" "));
    return ["user default off", ...users.map(u => `user ${u.name} on ${secrets(u)} ${u.rules}`)].join("\n") + "\n";
}
