// One Redis container: the image, its network address, and the uploaded redis.conf, users.acl and TLS files.
// Secrets reach the container only as uploaded files (Pulumi secrets in state), never on a command line or env.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { CONF_DIR, DATA_DIR, memoryLimitMb, NodeConf, renderRedisConf, renderStartScript, START_SCRIPT, TLS_DIR } from "./conf";

/** The image scripts/image.sh builds locally (Debian's redis-server 7.0 with TLS, and spiped); scripts/lib.sh reads the tag from this line. */
export const DEFAULT_IMAGE = "redis-secure-topologies/redis:bookworm-r2";

export interface NodeTls { caPem: pulumi.Input<string>; certPem: pulumi.Input<string>; keyPem: pulumi.Input<string> }

/**
 * The image `ref` as its ID on one engine (a docker.RemoteImage: found there, pulled only if missing, kept on destroy).
 * Containers are made from the ID, so when the tag moves to a new build (scripts/image.sh --refresh) the next
 * refreshing preview shows them replaced and `pulumi up` does it; made from the tag, they would keep the old build.
 */
export function engineImage(name: string, ref: string, opts: pulumi.CustomResourceOptions): pulumi.Output<string> {
    return new docker.RemoteImage(`${name}-image`, { name: ref, keepLocally: true }, opts).imageId;
}

export interface RedisNodeArgs {
    /** An image ID from engineImage. */
    image: pulumi.Input<string>;
    networkName: pulumi.Input<string>;
    /** Static address on the network (keeps certificates' IP SANs and cluster nodes.conf valid). */
    ipv4Address?: string;
    aliases?: string[];
    /** What redis.conf says; with `replicationUser`, its password comes from `replicationPassword`. */
    conf: NodeConf;
    replicationPassword?: pulumi.Input<string>;
    aclFile: pulumi.Input<string>;
    tls?: NodeTls;
    /** Cluster nodes: how long a master that died uncleanly waits before restarting (crashRestartDelayMs; default 0). */
    crashRestartDelayMs?: number;
    /** Publish container port -> host address:port (nothing is published by default). */
    publish?: { internal: number; external: number; ip: string }[];
}

/**
 * Settings every container of the project runs with (Redis and spiped): every Linux capability dropped except the few
 * `startCapabilities` its entry point needs for a moment, as root, to hand its uploaded files (root-owned, 0600: the
 * docker provider cannot set an owner) to an unprivileged user and switch to it (REDIS_USER, SPIPED_USER); after the switch the
 * process has no capability at all. No privilege gain through setuid binaries, and Docker's json-file log rotated at
 * 10 MB x 3.
 */
export function lockedDown(startCapabilities: string[]) {
    return {
        capabilities: { drops: ["ALL"], adds: startCapabilities },
        securityOpts: ["no-new-privileges:true"],
        logDriver: "json-file",
        logOpts: { "max-size": "10m", "max-file": "3" },
    };
}
/** A Redis node's start script chowns its files and data, then runs as redis (renderStartScript). Docker's own spelling
 *  (CAP_...), as `docker inspect` reports them, so a refresh reads back what was set. */
export const REDIS_START_CAPABILITIES = ["CAP_CHOWN", "CAP_SETGID", "CAP_SETUID"];
/** spiped reads its key as root, binds, then becomes SPIPED_USER itself (`-u`). */
export const SPIPED_START_CAPABILITIES = ["CAP_SETGID", "CAP_SETUID"];

/** Label holding redis.conf with the password left out, so `pulumi preview --diff` shows a config change line by line
 *  (the uploads hold secrets, so the provider shows all of them only as [secret]). */
export const CONF_LABEL = "redis-secure-topologies.redis-conf";

export function redisNode(name: string, a: RedisNodeArgs, opts: pulumi.CustomResourceOptions): docker.Container {
    const secretFile = (file: string, content: pulumi.Input<string>) => ({ file, content: pulumi.secret(content), permissions: "0600" });
    const withPassword = (password: string) => ({ ...a.conf, replicationUser: a.conf.replicationUser && { ...a.conf.replicationUser, password } });
    const redisConf = a.conf.replicationUser
        ? pulumi.output(a.replicationPassword ?? "").apply(p => renderRedisConf(withPassword(p)))
        : renderRedisConf(a.conf);
    const uploads: docker.types.input.ContainerUpload[] = [
        secretFile(`${CONF_DIR}/redis.conf`, redisConf),
        secretFile(`${CONF_DIR}/users.acl`, a.aclFile),
        { file: START_SCRIPT, content: renderStartScript({ crashRestartDelayMs: a.crashRestartDelayMs ?? 0 }), permissions: "0755" },
    ];
    if (a.tls) {
        uploads.push({ file: `${TLS_DIR}/ca.crt`, content: a.tls.caPem, permissions: "0644" });
        uploads.push({ file: `${TLS_DIR}/node.crt`, content: a.tls.certPem, permissions: "0644" });
        uploads.push(secretFile(`${TLS_DIR}/node.key`, a.tls.keyPem));
    }
    // Data and nodes.conf live on a volume, so a config change that replaces the container keeps them.
    const memoryMb = memoryLimitMb(a.conf.maxmemory);
    const data = new docker.Volume(`${name}-data`, { name: `${name}-data` }, opts);
    return new docker.Container(name, {
        name,
        hostname: name,
        image: a.image,
        // The start script runs redis-server as its child and tells a crash from a clean exit (renderStartScript).
        command: ["sh", START_SCRIPT],
        labels: [{ label: CONF_LABEL, value: renderRedisConf(withPassword("(secret)")) }],
        networksAdvanced: [{ name: a.networkName, ipv4Address: a.ipv4Address, aliases: [name, ...(a.aliases ?? [])] }],
        ports: a.publish?.map(p => ({ internal: p.internal, external: p.external, ip: p.ip })),
        uploads,
        volumes: [{ volumeName: data.name, containerPath: DATA_DIR }],
        restart: "unless-stopped",
        // Redis saves and exits on SIGTERM quickly (the start script forwards it); give it a few seconds before Docker kills it.
        stopSignal: "SIGTERM",
        stopTimeout: 10,
        destroyGraceSeconds: 10,
        mustRun: true,
        ...lockedDown(REDIS_START_CAPABILITIES),
        // No swap on top (Redis swapping is slower than failing over); said explicitly, else Docker sets twice the limit
        // and every refresh shows memorySwap as a change.
        memory: memoryMb,
        memorySwap: memoryMb,
    // Fixed names and addresses: the old container must go before its replacement can start.
    }, { ...opts, deleteBeforeReplace: true });
}
