// One Redis container: the image, its network address, and its redis.conf, users.acl and TLS files, which a file writer
// puts on a read-only volume (filesVolume). Secrets travel only as uploads of that writer (Pulumi secrets in state), never argv or env.
import * as docker from "@pulumi/docker";
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import {
    ACL_FILE,
    CONF_DIR,
    DATA_DIR,
    MASTERAUTH_FILE,
    memoryLimitMb,
    NodeConf,
    REDIS_USER,
    renderMasterauthConf,
    renderRedisConf,
    renderStartScript,
    START_SCRIPT,
    TLS_DIR,
} from "./conf";

/**
 * The image scripts/image.sh builds locally (Debian's redis-server 7.0 with TLS, and spiped); scripts/lib.sh reads the
 * tag from the line below.
 */
export const DEFAULT_IMAGE = "redis-secure-topologies/redis:bookworm-r3";

export interface NodeTls {
    caPem: pulumi.Input<string>;
    certPem: pulumi.Input<string>;
    keyPem: pulumi.Input<string>;
}

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
    /** What redis.conf says; with `replicationUser`, its password comes from `replicationPassword` (MASTERAUTH_FILE). */
    conf: NodeConf;
    replicationPassword?: pulumi.Input<string>;
    aclFile: pulumi.Input<string>;
    /** Passwords that change on the running node (PasswordRotation): users.acl and the masterauth file are hot files
     *  of its writer (a change rewrites them, the container stays), and the users' rules, which only a restart
     *  applies, are in a label instead. Without it (LockQuorum) a change of either replaces the container. */
    livePasswords?: { aclRules: string };
    tls?: NodeTls;
    /** Cluster nodes: how long a master that died uncleanly waits before restarting (crashRestartDelayMs; default 0). */
    crashRestartDelayMs?: number;
    /** Publish container port -> host address:port (nothing is published by default). */
    publish?: { internal: number; external: number; ip: string }[];
}

/**
 * Settings every container of the project runs with (Redis, spiped and their file writers): every Linux capability
 * dropped but `capabilities` (none for Redis and spiped, which run as their own unprivileged users from the start),
 * no privilege gain through setuid binaries, and Docker's json-file log rotated at 10 MB x 3.
 */
export function lockedDown(capabilities: string[] = []) {
    return {
        capabilities: { drops: ["ALL"], adds: capabilities.length ? capabilities : undefined },
        securityOpts: ["no-new-privileges:true"],
        logDriver: "json-file",
        logOpts: { "max-size": "10m", "max-file": "3" },
    };
}
/** What a file writer needs, as root, to replace a volume's files and hand them to the service's user: Docker's own
 *  spelling (CAP_...), as `docker inspect` reports them, so a refresh reads back what was set. */
export const WRITER_CAPABILITIES = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"];
/** A read-only root filesystem, with a small private /tmp. */
export const READ_ONLY_ROOT = { readOnly: true, tmpfs: { "/tmp": "rw,noexec,nosuid,size=16m" } };
/** Label on a service container holding the SHA-256 of its files (filesVolume `run`): new files replace the container. */
export const FILES_LABEL = "redis-secure-topologies.files";
const WRITER_MOUNT = "/target";

/**
 * The writer's script: the files arrive under `dir` (uploads), are copied to a staging directory on the volume, then
 * moved into place one by one (a rename within the volume, so each path always holds its old or its new content, and
 * a Redis starting meanwhile never finds redis.conf missing), deepest paths first (a versioned `tls/<digest>/` before
 * the top-level file naming it). Files of the run before are kept one run longer (`.manifest`), so a running service
 * can still reload from the paths it loaded last (a CA rotation sets the new trust before the new certificate);
 * older ones are removed.
 */
export function writerScript(dir: string, owner: string, chownAlso?: { path: string }, target = WRITER_MOUNT): string {
    const T = target,
        S = `${target}/.staging`;
    return [
        `rm -rf ${S}; mkdir ${S}; cp -Rp ${dir}/. ${S}/; chown -R ${owner} ${S}; touch ${T}/.manifest`,
        `cd ${S}; find . -type f | awk -F/ '{ print NF "\t" $0 }' | sort -rn | cut -f2- > ${T}/.next`,
        `while read -r f; do mkdir -p "${T}/\${f%/*}"; mv -f "$f" "${T}/$f"; done < ${T}/.next`,
        `cd ${T}; find . -path ./.staging -prune -o -type f ! -name .manifest ! -name .next -print | while read -r f; do grep -qxF "$f" .next .manifest || rm -f "$f"; done`,
        `mv -f .next .manifest; rm -rf ${S}; find ${T} -mindepth 1 -type d -empty -delete; chown -R ${owner} ${T}`,
        ...(chownAlso ? [`[ "$(stat -c %U ${chownAlso.path})" = ${owner.split(":")[0]} ] || chown -R ${owner} ${chownAlso.path}`] : []),
    ].join("\n");
}

/** SHA-256 of a list of uploads, in plain text: it reveals nothing of the secrets in them (keys, 32-character random passwords). */
function uploadsDigest(u: pulumi.Input<docker.types.input.ContainerUpload[]>): pulumi.Output<string> {
    return pulumi.unsecret(pulumi.output(u).apply(x => crypto.createHash("sha256").update(JSON.stringify(x)).digest("hex")));
}

/**
 * Files for a container with a read-only root filesystem, on a volume mounted read-only at `dir`. The docker provider
 * can deliver files only through a container's root filesystem (which Docker refuses when it is read-only), so a
 * short-lived writer container `<name>-files` receives them as uploads at their final paths, puts them on the volume
 * owned by `owner` (writerScript: each file replaced by a rename), and exits (no network, no restart).
 * `run` resolves, once the writer exited 0 (a failed copy fails the update), to a digest of `uploads` for the service's
 * FILES_LABEL: new files, new container. `hotUploads` are delivered the same way but left out of `run`: the service
 * keeps running and loads them itself (TLS files through CONFIG SET, see TlsReload); `hot` resolves, after the same
 * exit, to their digest, for whatever reloads them to wait on. `chownAlso` hands another volume (the data) to `owner`
 * the first time.
 */
export function filesVolume(
    name: string,
    a: {
        image: pulumi.Input<string>;
        dir: string;
        owner: string;
        uploads: docker.types.input.ContainerUpload[];
        hotUploads?: docker.types.input.ContainerUpload[];
        chownAlso?: { volumeName: pulumi.Input<string>; path: string };
    },
    opts: pulumi.CustomResourceOptions,
): { volumeName: pulumi.Output<string>; run: pulumi.Output<string>; hot: pulumi.Output<string> } {
    const volume = new docker.Volume(`${name}-files`, { name: `${name}-files` }, opts);
    const writer = new docker.Container(
        `${name}-files`,
        {
            name: `${name}-files`,
            image: a.image,
            command: ["sh", "-ec", writerScript(a.dir, a.owner, a.chownAlso)],
            uploads: [...a.uploads, ...(a.hotUploads ?? [])],
            volumes: [
                { volumeName: volume.name, containerPath: WRITER_MOUNT },
                ...(a.chownAlso ? [{ volumeName: a.chownAlso.volumeName, containerPath: a.chownAlso.path }] : []),
            ],
            networkMode: "none",
            attach: true,
            mustRun: false,
            restart: "no",
            ...lockedDown(WRITER_CAPABILITIES),
        },
        { ...opts, deleteBeforeReplace: true },
    );
    // Digests of the files, not the writer's ID: a writer removed by `docker container prune` and run again writes
    // the same files, and the service keeps running. In an update they resolve once the writer exited 0 (so the
    // service starts after it, and a failed copy fails the update); in a preview the writer's exit is unknown while
    // it is replaced, so there they are the digest alone: a writer replaced for hot files is no change of the label.
    // Through the writer's URN (known in a preview), so they depend on the writer in a preview as in an update: a
    // dependency edge that only the preview lacks makes the engine report a duplicate URN in targeted previews
    // (pulumi/pulumi#24303).
    const written = <T>(value: pulumi.Output<T>) =>
        pulumi.runtime.isDryRun()
            ? pulumi.all([writer.urn, value]).apply(([, d]) => d)
            : pulumi.all([writer.exitCode, value]).apply(([code, d]) => {
                  if (code !== undefined && code !== 0)
                      throw new Error(`${name}-files exited ${code} writing the files of ${name}: see \`docker logs ${name}-files\``);
                  return d;
              });
    return { volumeName: volume.name, run: written(uploadsDigest(a.uploads)), hot: written(uploadsDigest(a.hotUploads ?? [])) };
}

/** Label holding redis.conf with the password left out, so `pulumi preview --diff` shows a config change line by line
 *  (the uploads hold secrets, so the provider shows all of them only as [secret]); for nodes whose passwords change
 *  live (livePasswords), followed by the ACL users and rules without passwords, which only a restart applies. One
 *  label, not two: with a third label on the container the engine showed a changed one as removed and added, its
 *  lines no longer side by side. */
export const CONF_LABEL = "redis-secure-topologies.redis-conf";

/** A Redis container; with TLS, the versioned directory of its TLS files, and `hot`, which resolves once its writer wrote
 *  them (TlsReload's inputs). */
export interface RedisNode {
    container: docker.Container;
    tlsDir?: pulumi.Output<string>;
    hot: pulumi.Output<string>;
}

export function redisNode(name: string, a: RedisNodeArgs, opts: pulumi.CustomResourceOptions): RedisNode {
    const secretFile = (file: string, content: pulumi.Input<string>) => ({ file, content: pulumi.secret(content), permissions: "0600" });
    // redis.conf holds no secret: it includes the masterauth file.
    const conf = { ...a.conf, replicationUser: a.conf.replicationUser && { name: a.conf.replicationUser.name } };
    const passwords = [
        secretFile(ACL_FILE, a.aclFile),
        ...(conf.replicationUser
            ? [secretFile(MASTERAUTH_FILE, pulumi.output(a.replicationPassword ?? "").apply(renderMasterauthConf))]
            : []),
    ];
    const uploads: docker.types.input.ContainerUpload[] = [
        secretFile(`${CONF_DIR}/redis.conf`, renderRedisConf(conf)),
        { file: START_SCRIPT, content: renderStartScript({ crashRestartDelayMs: a.crashRestartDelayMs ?? 0 }), permissions: "0755" },
        ...(a.livePasswords ? [] : passwords),
    ];
    // TLS files are hot: new ones (a renewal, a CA rotation) reach the volume without replacing the container, and
    // TlsReload loads them with CONFIG SET. Twice: at the paths redis.conf names (what a restart loads, what tools
    // read) and in a directory named after their content (what CONFIG SET names, so a rotation can still point at
    // the previous certificate while it changes the trust first).
    const hotUploads: docker.types.input.ContainerUpload[] = [];
    let dir: pulumi.Output<string> | undefined;
    if (a.tls) {
        dir = tlsVersionDir(a.tls.caPem, a.tls.certPem);
        for (const d of [pulumi.output(TLS_DIR), dir]) {
            hotUploads.push({ file: pulumi.interpolate`${d}/ca.crt`, content: a.tls.caPem, permissions: "0644" });
            hotUploads.push({ file: pulumi.interpolate`${d}/node.crt`, content: a.tls.certPem, permissions: "0644" });
            hotUploads.push({ file: pulumi.interpolate`${d}/node.key`, content: pulumi.secret(a.tls.keyPem), permissions: "0600" });
        }
    }
    // Data and nodes.conf live on a volume, so a config change that replaces the container keeps them.
    const memoryMb = memoryLimitMb(a.conf.maxmemory);
    const data = new docker.Volume(`${name}-data`, { name: `${name}-data` }, opts);
    const files = filesVolume(
        name,
        {
            image: a.image,
            dir: CONF_DIR,
            owner: `${REDIS_USER}:${REDIS_USER}`,
            uploads,
            hotUploads: [...hotUploads, ...(a.livePasswords ? passwords : [])],
            chownAlso: { volumeName: data.name, path: DATA_DIR },
        },
        opts,
    );
    const container = new docker.Container(
        name,
        {
            name,
            hostname: name,
            image: a.image,
            user: REDIS_USER,
            // The start script runs redis-server as its child and tells a crash from a clean exit (renderStartScript).
            command: ["sh", START_SCRIPT],
            labels: [
                { label: CONF_LABEL, value: renderRedisConf(conf) + (a.livePasswords ? `${a.livePasswords.aclRules}\n` : "") },
                { label: FILES_LABEL, value: files.run },
            ],
            networksAdvanced: [{ name: a.networkName, ipv4Address: a.ipv4Address, aliases: [name, ...(a.aliases ?? [])] }],
            ports: a.publish?.map(p => ({ internal: p.internal, external: p.external, ip: p.ip })),
            volumes: [
                { volumeName: files.volumeName, containerPath: CONF_DIR, readOnly: true },
                { volumeName: data.name, containerPath: DATA_DIR },
            ],
            ...READ_ONLY_ROOT,
            restart: "unless-stopped",
            // Redis saves and exits on SIGTERM quickly (the start script forwards it); give it a few seconds before Docker kills it.
            stopSignal: "SIGTERM",
            stopTimeout: 10,
            destroyGraceSeconds: 10,
            mustRun: true,
            ...lockedDown(),
            // No swap on top (Redis swapping is slower than failing over); said explicitly, else Docker sets twice the limit
            // and every refresh shows memorySwap as a change.
            memory: memoryMb,
            memorySwap: memoryMb,
            // Fixed names and addresses: the old container must go before its replacement can start.
        },
        { ...opts, deleteBeforeReplace: true },
    );
    return { container, tlsDir: dir, hot: files.hot };
}

/** `${TLS_DIR}/<16 hex>`: named after the CA bundle and certificate it holds (the key changes only with the certificate). */
export function tlsVersionDir(caPem: pulumi.Input<string>, certPem: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi
        .all([caPem, certPem])
        .apply(([ca, cert]) => `${TLS_DIR}/${crypto.createHash("sha256").update(ca).update("\0").update(cert).digest("hex").slice(0, 16)}`);
}
