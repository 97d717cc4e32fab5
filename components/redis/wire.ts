// Every Redis wire call the package makes, in one place: connecting (TLS, ACL user), CLUSTER verbs, INFO.
// Used by the cluster bootstrap's dynamic provider (so it must stay free of Pulumi objects and captured
// clients: it is serialized into state) and by tests. ioredis is required lazily inside the functions.
import type { Redis as RedisClient, RedisOptions } from "ioredis";
/** The client every wire call takes (ioredis's), for callers that hold one. */
export type { RedisClient };

export interface Endpoint {
    host: string;
    port: number;
}
export interface Auth {
    username: string;
    password: string;
}
export interface TlsMaterial {
    ca: string;
    /** Client certificate and key, for nodes that require them (mutual TLS). */
    cert?: string;
    key?: string;
}

export interface ConnectOptions {
    auth?: Auth;
    tls?: TlsMaterial;
    connectTimeoutMs?: number;
    commandTimeoutMs?: number;
}

/** A connected client. Callers `quit()` it in `finally` (or use `withClient`). */
export async function connect(ep: Endpoint, o: ConnectOptions = {}): Promise<RedisClient> {
    const Redis: typeof import("ioredis").default = require("ioredis");
    const opts: RedisOptions = {
        host: ep.host,
        port: ep.port,
        username: o.auth?.username,
        password: o.auth?.password,
        lazyConnect: true,
        // The ready check runs INFO, which least-privilege users may not run.
        enableReadyCheck: false,
        connectTimeout: o.connectTimeoutMs ?? 3000,
        // A server that accepts the socket but never answers (wrong tunnel key, plaintext on a TLS port) fails fast.
        commandTimeout: o.commandTimeoutMs ?? 10_000,
        maxRetriesPerRequest: 1,
        enableOfflineQueue: false,
        retryStrategy: times => (times > 3 ? null : 100 * times),
    };
    // Node checks the server's certificate against ep.host (DNS or IP SANs); SNI only for DNS names.
    if (o.tls) opts.tls = { ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, servername: isIP(ep.host) ? undefined : ep.host };
    return connected(new Redis(opts), `${ep.host}:${ep.port}${o.tls ? " (TLS)" : ""}`);
}

/** Connects a lazy client; a failure throws naming `where` with the socket's own error (ioredis reports it as an event). */
async function connected(client: RedisClient, where: string): Promise<RedisClient> {
    let lastError: Error | undefined;
    client.on("error", (e: Error) => {
        lastError = e;
    });
    try {
        await client.connect();
    } catch (e) {
        client.disconnect();
        throw new Error(`cannot reach Redis at ${where}: ${(lastError ?? (e as Error)).message}`);
    }
    return client;
}

function isIP(host: string): boolean {
    return (require("net") as typeof import("net")).isIP(host) !== 0;
}

export async function withClient<T>(ep: Endpoint, o: ConnectOptions, fn: (c: RedisClient) => Promise<T>): Promise<T> {
    const c = await connect(ep, o);
    try {
        return await fn(c);
    } finally {
        await close(c);
    }
}

/** QUIT when the connection is usable; otherwise drop it and stop any reconnect timer. */
export async function close(c: RedisClient): Promise<void> {
    if (c.status === "ready") await c.quit().catch(() => c.disconnect());
    else c.disconnect();
}

/** `INFO section` as a key/value map. */
export async function info(c: RedisClient, section: string): Promise<Record<string, string>> {
    return parseInfo(await c.info(section));
}

export function parseInfo(text: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of text.split(/\r?\n/)) {
        const i = line.indexOf(":");
        if (i > 0 && !line.startsWith("#")) out[line.slice(0, i)] = line.slice(i + 1).trim();
    }
    return out;
}

export interface ClusterNodeView {
    id: string;
    ip: string;
    port: number;
    flags: string[];
    /** Replicas: the master's node id. */
    masterId?: string;
    connected: boolean;
    slots: [number, number][];
    /** Slots this node is migrating to (`[n->-id]`) or importing from (`[n-<-id]`) another node; only a node's own line shows them. */
    openSlots: OpenSlot[];
}

export interface OpenSlot {
    slot: number;
    migratingTo?: string;
    importingFrom?: string;
}

/** Parses `CLUSTER NODES`. */
export function parseClusterNodes(text: string): ClusterNodeView[] {
    return text
        .trim()
        .split("\n")
        .filter(Boolean)
        .map(line => {
            const f = line.trim().split(" ");
            const [ip, ports] = f[1]
                .split("@")[0]
                .split(",")[0]
                .split(/:(?=\d+$)/);
            const slots: [number, number][] = [];
            const openSlots: OpenSlot[] = [];
            for (const s of f.slice(8)) {
                const open = /^\[(\d+)-([<>])-([0-9a-f]+)\]$/.exec(s);
                if (open) openSlots.push({ slot: Number(open[1]), [open[2] === ">" ? "migratingTo" : "importingFrom"]: open[3] });
                else if (s.startsWith("[")) throw new Error(`CLUSTER NODES: cannot read slot field ${s}`);
                else {
                    const [a, b] = s.split("-").map(Number);
                    slots.push([a, b ?? a]);
                }
            }
            return {
                id: f[0],
                ip,
                port: Number(ports),
                flags: f[2].split(","),
                masterId: f[3] === "-" ? undefined : f[3],
                connected: f[7] === "connected",
                slots,
                openSlots,
            };
        });
}

export async function clusterNodes(c: RedisClient): Promise<ClusterNodeView[]> {
    return parseClusterNodes(String(await c.call("CLUSTER", "NODES")));
}

export async function myId(c: RedisClient): Promise<string> {
    return String(await c.call("CLUSTER", "MYID"));
}

export async function meet(c: RedisClient, ip: string, port: number, busPort: number): Promise<void> {
    await c.call("CLUSTER", "MEET", ip, String(port), String(busPort));
}

/** Assigns slot ranges in one call (Redis 7 ADDSLOTSRANGE). */
export async function addSlotRanges(c: RedisClient, ranges: [number, number][]): Promise<void> {
    if (ranges.length) await c.call("CLUSTER", "ADDSLOTSRANGE", ...ranges.flat().map(String));
}

export async function replicate(c: RedisClient, masterId: string): Promise<void> {
    await c.call("CLUSTER", "REPLICATE", masterId);
}

/** A distinct epoch per node avoids a config-epoch collision round at start; only fresh nodes accept it. */
export async function setConfigEpoch(c: RedisClient, epoch: number): Promise<boolean> {
    try {
        await c.call("CLUSTER", "SET-CONFIG-EPOCH", String(epoch));
        return true;
    } catch {
        return false;
    }
}

/** Planned failover: run on a replica to make it its master's master again. */
export async function failover(c: RedisClient, mode?: "FORCE" | "TAKEOVER"): Promise<void> {
    await c.call("CLUSTER", "FAILOVER", ...(mode ? [mode] : []));
}

/** Polls `check` every `intervalMs` until it returns true; throws with `what` and the last detail on timeout. */
export async function waitUntil(what: string, check: () => Promise<boolean | string>, timeoutMs: number, intervalMs = 50): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let detail = "";
    for (;;) {
        try {
            const r = await check();
            if (r === true) return;
            detail = typeof r === "string" ? r : "";
        } catch (e) {
            detail = (e as Error).message;
        }
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `: ${detail}` : ""}`);
        await new Promise(r => setTimeout(r, intervalMs));
    }
}

/** `CLUSTER INFO` as a key/value map (cluster_state, cluster_slots_assigned, ...). */
export async function clusterInfo(c: RedisClient): Promise<Record<string, string>> {
    return parseInfo(String(await c.call("CLUSTER", "INFO")));
}

export async function forget(c: RedisClient, nodeId: string): Promise<void> {
    await c.call("CLUSTER", "FORGET", nodeId);
}

/** What one node says about itself and the cluster. Read-only: CLUSTER MYID, CLUSTER NODES, CLUSTER INFO, INFO replication. */
export interface NodeReport {
    id: string;
    nodes: ClusterNodeView[];
    clusterInfo: Record<string, string>;
    replication: Record<string, string>;
}

/** A node's report within `timeoutMs` in all (connect and each command are bounded by it too); throws past it. */
export async function readNode(ep: Endpoint, o: ConnectOptions, timeoutMs: number): Promise<NodeReport> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer from ${ep.host}:${ep.port} within ${timeoutMs} ms`)), timeoutMs);
    });
    const read = withClient(ep, { ...o, connectTimeoutMs: timeoutMs, commandTimeoutMs: timeoutMs }, async c => ({
        id: await myId(c),
        nodes: await clusterNodes(c),
        clusterInfo: await clusterInfo(c),
        replication: await info(c, "replication"),
    }));
    try {
        return await Promise.race([read, late]);
    } finally {
        clearTimeout(timer);
    }
}

/** `CLUSTER RESET SOFT`: the node forgets every other node and its slots (it refuses while it holds keys as a master). */
export async function reset(c: RedisClient): Promise<void> {
    await c.call("CLUSTER", "RESET", "SOFT");
}

type Arg = string | Buffer;

/** Runs `commands` pipelined, `batch` at a time; throws the first error, naming the command by its first words
 *  (never MIGRATE's password). Replies come as Buffers when `buffers` (key names need not be UTF-8). */
async function pipelined(c: RedisClient, commands: Arg[][], batch = 1000, buffers = false): Promise<unknown[]> {
    const out: unknown[] = [];
    for (let i = 0; i < commands.length; i += batch) {
        const p = c.pipeline();
        for (const [cmd, ...args] of commands.slice(i, i + batch)) {
            if (buffers) p.callBuffer(String(cmd), ...args);
            else p.call(String(cmd), ...args);
        }
        const replies = (await p.exec()) ?? [];
        replies.forEach(([err, reply], j) => {
            if (err) throw new Error(`${commands[i + j].slice(0, 4).join(" ")}: ${err.message}`);
            out.push(reply);
        });
    }
    return out;
}

/** `CLUSTER SETSLOT s IMPORTING|MIGRATING|NODE id` for every slot, pipelined. */
export async function setSlots(c: RedisClient, slots: number[], state: "IMPORTING" | "MIGRATING" | "NODE", nodeId: string): Promise<void> {
    await pipelined(
        c,
        slots.map(s => ["CLUSTER", "SETSLOT", String(s), state, nodeId]),
    );
}

export async function setSlotsStable(c: RedisClient, slots: number[]): Promise<void> {
    await pipelined(
        c,
        slots.map(s => ["CLUSTER", "SETSLOT", String(s), "STABLE"]),
    );
}

export async function countKeysInSlots(c: RedisClient, slots: number[]): Promise<number[]> {
    return (
        await pipelined(
            c,
            slots.map(s => ["CLUSTER", "COUNTKEYSINSLOT", String(s)]),
        )
    ).map(Number);
}

/** Up to `count` key names of each slot (`CLUSTER GETKEYSINSLOT`), pipelined; as Buffers, to MIGRATE them byte for byte. */
export async function keysInSlots(c: RedisClient, slots: number[], count: number): Promise<Buffer[][]> {
    return (await pipelined(
        c,
        slots.map(s => ["CLUSTER", "GETKEYSINSLOT", String(s), String(count)]),
        1000,
        true,
    )) as Buffer[][];
}

/**
 * Moves keys to another node with `MIGRATE host port "" 0 timeout AUTH2 user pass KEYS ...`, one MIGRATE per
 * group (a group's keys share a slot), a few pipelined at a time. The source opens the connection itself: over TLS
 * when it runs with `tls-cluster yes`, with its own client certificate. Keys already present on the target fail
 * with BUSYKEY unless `replace` (MIGRATE ... REPLACE: the source's copy wins).
 */
export async function migrateKeys(
    c: RedisClient,
    to: Endpoint,
    auth: Auth,
    groups: Arg[][],
    o: { replace?: boolean; timeoutMs?: number } = {},
): Promise<void> {
    await pipelined(
        c,
        groups
            .filter(g => g.length)
            .map(keys => [
                "MIGRATE",
                to.host,
                String(to.port),
                "",
                "0",
                String(o.timeoutMs ?? 10_000),
                ...(o.replace ? ["REPLACE"] : []),
                "AUTH2",
                auth.username,
                auth.password,
                "KEYS",
                ...keys,
            ]),
        16,
    );
}

/** A client on a Unix socket (the throwaway server a restore reads an RDB with); no auth, no TLS. */
export async function connectUnix(socketPath: string, o: { commandTimeoutMs?: number } = {}): Promise<RedisClient> {
    const Redis: typeof import("ioredis").default = require("ioredis");
    return connected(
        new Redis({
            path: socketPath,
            lazyConnect: true,
            enableReadyCheck: false,
            commandTimeout: o.commandTimeoutMs ?? 30_000,
            maxRetriesPerRequest: 1,
            enableOfflineQueue: false,
            retryStrategy: () => null,
        }),
        socketPath,
    );
}

/**
 * `BGSAVE SCHEDULE`, then waits until that snapshot is on disk (`rdb_saves` grew, no save in progress) and it
 * succeeded. Returns the RDB's path in the container (`CONFIG GET dir` + `dbfilename`).
 */
export async function bgsave(c: RedisClient, timeoutMs: number): Promise<string> {
    const before = Number((await info(c, "persistence")).rdb_saves);
    if (!Number.isFinite(before)) throw new Error("INFO persistence has no rdb_saves (Redis 7.0 or newer needed)");
    await c.call("BGSAVE", "SCHEDULE");
    let last: Record<string, string> = {};
    await waitUntil(
        "BGSAVE to finish",
        async () => {
            last = await info(c, "persistence");
            return Number(last.rdb_saves) > before && last.rdb_bgsave_in_progress === "0";
        },
        timeoutMs,
        100,
    );
    if (last.rdb_last_bgsave_status !== "ok")
        throw new Error(`BGSAVE failed (rdb_last_bgsave_status:${last.rdb_last_bgsave_status}); see the node's log`);
    const [, dir] = (await c.call("CONFIG", "GET", "dir")) as string[];
    const [, file] = (await c.call("CONFIG", "GET", "dbfilename")) as string[];
    return `${dir}/${file}`;
}

/** The databases holding keys (`INFO keyspace`: db0, db3, ...) and their key counts. */
export async function keyspace(c: RedisClient): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (const [db, v] of Object.entries(await info(c, "keyspace"))) {
        const keys = /keys=(\d+)/.exec(v);
        if (/^db\d+$/.test(db) && keys) out.set(Number(db.slice(2)), Number(keys[1]));
    }
    return out;
}

export interface DumpedKey {
    key: Buffer;
    payload: Buffer;
    expireAtMs: number;
}

/**
 * Every key of database `db` as `DUMP` payloads with their absolute expiry (`PEXPIRETIME`, 0: none), `batch` at a
 * time through SCAN; a key gone between SCAN and DUMP is skipped. For a server nobody else writes to.
 */
export async function* dumpKeys(c: RedisClient, db: number, batch = 500): AsyncGenerator<DumpedKey[]> {
    await c.select(db);
    let cursor = "0";
    do {
        const [next, keys] = (await c.callBuffer("SCAN", cursor, "COUNT", String(batch))) as [Buffer, Buffer[]];
        cursor = next.toString();
        if (!keys.length) continue;
        const replies = await pipelined(
            c,
            keys.flatMap(k => [
                ["DUMP", k],
                ["PEXPIRETIME", k],
            ]),
            2000,
            true,
        );
        const out: DumpedKey[] = [];
        keys.forEach((key, i) => {
            const payload = replies[2 * i] as Buffer | null;
            const at = Number(replies[2 * i + 1]);
            if (payload !== null && at !== -2) out.push({ key, payload, expireAtMs: at > 0 ? at : 0 });
        });
        if (out.length) yield out;
    } while (cursor !== "0");
}

/** `RESTORE key <expireAt> payload ABSTTL [REPLACE]` for each key into database `db`, pipelined (a key whose expiry has
 *  passed is not created). Throws the first error (BUSYKEY: the key exists and `replace` is off; MOVED: wrong node). */
export async function restoreKeys(c: RedisClient, db: number, keys: DumpedKey[], replace: boolean): Promise<void> {
    await c.select(db);
    const p = c.pipeline();
    for (const k of keys) p.callBuffer("RESTORE", k.key, String(k.expireAtMs), k.payload, "ABSTTL", ...(replace ? ["REPLACE"] : []));
    const replies = (await p.exec()) ?? [];
    // Named by the key only: the payload is the data.
    replies.forEach(([err], i) => {
        if (err) throw new Error(`RESTORE ${keys[i].key.toString()}: ${err.message}`);
    });
}

/** The SHA-256 hashes of `user`'s passwords (`ACL GETUSER`'s `passwords`); a secret-free view of which ones work. */
export async function aclPasswordHashes(c: RedisClient, user: string): Promise<string[]> {
    const reply = (await c.call("ACL", "GETUSER", user)) as unknown[] | null;
    if (!reply) throw new Error(`ACL GETUSER ${user}: no such user`);
    const i = reply.findIndex(x => String(x) === "passwords");
    return i < 0 ? [] : (reply[i + 1] as unknown[]).map(String);
}

/**
 * Adds (`#hash`) and removes (`!hash`) passwords of `user` by their hashes, in one `ACL SETUSER`: nothing else of the
 * user changes, and no client is disconnected (Redis 7.0 src/acl.c: ACL SETUSER only drops pub/sub clients whose
 * channels it revokes, while ACL LOAD frees every user and kills every client authenticated as one, replication
 * links included, so it is never used on a live node). Connections authenticated with a removed password stay.
 */
export async function aclChangePasswords(c: RedisClient, user: string, ch: { add: string[]; remove: string[] }): Promise<void> {
    if (!ch.add.length && !ch.remove.length) return;
    try {
        await c.call("ACL", "SETUSER", user, ...ch.add.map(h => `#${h}`), ...ch.remove.map(h => `!${h}`));
    } catch (e) {
        throw new Error(`ACL SETUSER ${user} (+${ch.add.length} -${ch.remove.length} passwords): ${(e as Error).message}`);
    }
}

/** `CONFIG SET masterauth`: the password this node's replication uses from its next (re)connection to its master on;
 *  the link it has stays. */
export async function setMasterauth(c: RedisClient, password: string): Promise<void> {
    try {
        await c.call("CONFIG", "SET", "masterauth", password);
    } catch (e) {
        throw new Error(`CONFIG SET masterauth: ${(e as Error).message.replace(password, "(secret)")}`);
    }
}

/** Connects as the first of `logins` the node accepts (checked with ACL WHOAMI: ioredis may report a refused AUTH
 *  only on the first command); a node that cannot be reached throws at once. */
export async function connectAsAnyOf(ep: Endpoint, logins: Auth[], o: Omit<ConnectOptions, "auth">): Promise<RedisClient> {
    let last: Error | undefined;
    for (const auth of logins) {
        let c: RedisClient | undefined;
        try {
            c = await connect(ep, { ...o, auth });
        } catch (e) {
            last = e as Error;
            if (!/WRONGPASS|NOAUTH|invalid username-password/i.test(last.message)) throw last;
            continue;
        }
        try {
            if (String(await c.call("ACL", "WHOAMI")) === auth.username) return c;
        } catch (e) {
            last = e as Error;
        }
        await close(c);
    }
    throw new Error(
        `${ep.host}:${ep.port} accepted none of the ${logins.length} ${logins[0]?.username} passwords it was given: ${last?.message}`,
    );
}

/** The files a node's TLS context loads (CONFIG SET): its certificate and key serve both ends (server, and client of
 *  replication and the cluster bus), the CA file is what it trusts. */
export interface TlsFiles {
    cert: string;
    key: string;
    ca: string;
}

/**
 * `CONFIG SET tls-cert-file ... tls-key-file ... tls-client-cert-file ... tls-client-key-file ... tls-ca-cert-file ...`
 * in one call: Redis 7.0 reads the files into a new TLS context and swaps it in (tls.c tlsConfigure), or answers an
 * error and keeps the old one; connections already open keep theirs. These configs are VOLATILE_CONFIG (config.c),
 * so even an unchanged path is read again.
 */
export async function loadTls(c: RedisClient, f: TlsFiles): Promise<void> {
    await c.call(
        "CONFIG",
        "SET",
        "tls-cert-file",
        f.cert,
        "tls-key-file",
        f.key,
        "tls-client-cert-file",
        f.cert,
        "tls-client-key-file",
        f.key,
        "tls-ca-cert-file",
        f.ca,
    );
}

/** The SHA-256 fingerprint (`AB:CD:...`) of the certificate a TLS listener serves, checked against `tls.ca`. */
export async function servedFingerprint(ep: Endpoint, tlsm: TlsMaterial, timeoutMs = 3000): Promise<string> {
    const tls: typeof import("tls") = require("tls");
    return new Promise((resolve, reject) => {
        const s = tls.connect({
            host: ep.host,
            port: ep.port,
            ca: tlsm.ca,
            cert: tlsm.cert,
            key: tlsm.key,
            servername: isIP(ep.host) ? undefined : ep.host,
            timeout: timeoutMs,
        });
        const done = (e?: Error, fp?: string) => {
            s.destroy();
            if (e) reject(e);
            else resolve(fp!);
        };
        s.once("secureConnect", () => done(undefined, s.getPeerCertificate().fingerprint256));
        s.once("timeout", () => done(new Error(`no TLS handshake with ${ep.host}:${ep.port} within ${timeoutMs} ms`)));
        s.once("error", e => done(new Error(`TLS handshake with ${ep.host}:${ep.port}: ${e.message}`)));
    });
}
