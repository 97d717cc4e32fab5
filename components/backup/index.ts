// Backup and restore of a whole topology (RedisCluster, ReplicationChain, single node): per master a BGSAVE whose RDB
// is copied out through the Docker engine, with the slot map and the plan, into one directory with a manifest and
// SHA-256 sums. Restore checks every file and the target's shape first, then replays each RDB's keys (DUMP payloads
// read from a throwaway redis-server that loads the RDB, no network, a Unix socket) into the target's master with
// RESTORE ... ABSTTL; replicas follow through ordinary replication.
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DEFAULT_IMAGE } from "../redis/node";
import * as wire from "../redis/wire";
import {
    FORMAT,
    integrityProblems,
    inSlotOrder,
    LiveMaster,
    Manifest,
    MANIFEST_FILE,
    parseManifest,
    parseSums,
    PLAN_FILE,
    renderSums,
    rootMaster,
    sha256,
    shapeProblems,
    SLOT_MAP_FILE,
    SUMS_FILE,
    Topology,
    TopologyNode,
} from "./manifest";

export * from "./manifest";

type Log = (line: string) => void;

const endpoint = (n: TopologyNode) => ({ host: n.ip, port: n.port });
const on = <T>(t: Topology, n: TopologyNode, f: (c: wire.RedisClient) => Promise<T>) =>
    wire.withClient(endpoint(n), { auth: t.auth, tls: n.tls ? t.tls : undefined, commandTimeoutMs: 60_000 }, f);

/** `docker ...` on the engine of DOCKER_HOST (the local one by default). */
function docker(args: string[], timeoutMs = 120_000): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile("docker", args, { encoding: "utf8", timeout: timeoutMs, maxBuffer: 16 << 20 }, (e, stdout, stderr) =>
            e ? reject(new Error(`docker ${args[0]}: ${(stderr || e.message).trim()}`)) : resolve(stdout.trim()),
        );
    });
}

/** The masters as they are live, in slot order for a cluster (a failed-over shard is backed up from its live master). */
async function liveMasters(t: Topology): Promise<(LiveMaster & { node: TopologyNode })[]> {
    if (t.kind === "standalone") return t.nodes.filter(n => n.role === "master").map(n => ({ name: n.name, slots: [], node: n }));
    const view = await on(t, t.nodes[0], c => wire.clusterNodes(c));
    const byAddress = new Map(t.nodes.map(n => [`${n.ip}:${n.port}`, n]));
    const masters = view
        .filter(v => v.flags.includes("master") && v.slots.length)
        .map(v => {
            const node = byAddress.get(`${v.ip}:${v.port}`);
            if (!node) throw new Error(`the live cluster has a master at ${v.ip}:${v.port} that is not in the plan`);
            return { name: node.name, slots: v.slots, node };
        });
    return inSlotOrder(masters);
}

export interface BackupOptions {
    to: string;
    log?: Log;
    timeoutMs?: number;
}

/** Backs `t` up into the new directory `o.to` (0700; every file 0600). Returns the manifest. */
export async function backup(t: Topology, o: BackupOptions): Promise<Manifest> {
    const log = o.log ?? (l => console.log(l));
    const hosts = new Set(t.nodes.map(n => n.host).filter(Boolean));
    if (hosts.size > 1)
        throw new Error(
            `the nodes are on ${hosts.size} Docker hosts (${[...hosts].join(", ")}); backup copies RDB files through one engine (DOCKER_HOST), so it covers one-host topologies only`,
        );
    if (fs.existsSync(o.to) && fs.readdirSync(o.to).length) throw new Error(`--to ${o.to} exists and is not empty: give a new directory`);
    fs.mkdirSync(o.to, { recursive: true, mode: 0o700 });
    fs.chmodSync(o.to, 0o700);
    const write = (f: string, data: string | Buffer) => fs.writeFileSync(path.join(o.to, f), data, { mode: 0o600 });
    const masters = await liveMasters(t);
    const files: Manifest["files"] = {};
    const sums: Record<string, string> = {};
    const keep = (f: string) => {
        const data = fs.readFileSync(path.join(o.to, f));
        files[f] = { bytes: data.length };
        sums[f] = sha256(data);
    };
    if (t.kind === "cluster") {
        write(SLOT_MAP_FILE, String(await on(t, masters[0].node, c => c.call("CLUSTER", "NODES"))));
        keep(SLOT_MAP_FILE);
    }
    write(PLAN_FILE, JSON.stringify({ kind: t.kind, nodes: t.nodes }, null, 2) + "\n");
    keep(PLAN_FILE);
    for (const [i, m] of masters.entries()) {
        const t0 = Date.now();
        log(`[${i + 1}/${masters.length}] ${m.name}: BGSAVE`);
        const rdb = await on(t, m.node, c => wire.bgsave(c, o.timeoutMs ?? 300_000));
        const file = `${m.name}.rdb`;
        await docker(["cp", `${m.name}:${rdb}`, path.join(o.to, file)]);
        fs.chmodSync(path.join(o.to, file), 0o600);
        keep(file);
        log(`[${i + 1}/${masters.length}] ${m.name}: ${file}, ${files[file].bytes} bytes, in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    const manifest: Manifest = {
        format: FORMAT,
        tool: "redis-secure-topologies",
        kind: t.kind,
        createdAt: new Date().toISOString(),
        masters: masters.map(m => ({ name: m.name, slots: m.slots, file: `${m.name}.rdb` })),
        files,
    };
    write(MANIFEST_FILE, JSON.stringify(manifest, null, 2) + "\n");
    sums[MANIFEST_FILE] = sha256(fs.readFileSync(path.join(o.to, MANIFEST_FILE)));
    write(SUMS_FILE, renderSums(sums));
    log(`backup: ${masters.length} master(s) in ${o.to}`);
    return manifest;
}

/** The backup in `dir`, checked: SHA256SUMS, every file's checksum, the manifest. Throws listing every problem. */
export function readBackup(dir: string): Manifest {
    const file = (f: string) => path.join(dir, f);
    if (!fs.existsSync(file(SUMS_FILE))) throw new Error(`${dir} holds no ${SUMS_FILE}: not a backup directory`);
    const sums = parseSums(fs.readFileSync(file(SUMS_FILE), "utf8"));
    const problems = integrityProblems(sums, f => (fs.existsSync(file(f)) ? fs.readFileSync(file(f)) : undefined));
    if (problems.length) throw new Error(`the backup in ${dir} is damaged; nothing was changed:\n  - ${problems.join("\n  - ")}`);
    return parseManifest(fs.readFileSync(file(MANIFEST_FILE), "utf8"));
}

export interface RestoreOptions {
    from: string;
    /** Overwrite keys that exist in the target (default: refuse a target holding any key). */
    replace?: boolean;
    /** The image of the throwaway server that reads each RDB (default DEFAULT_IMAGE, which the nodes run). */
    image?: string;
    log?: Log;
    /** Called after every batch of keys (the CLI rewrites one line on a terminal). */
    progress?: (line: string) => void;
    timeoutMs?: number;
}

/** A redis-server reading `rdb` in a container with no network, as this user, answering on a Unix socket in a 0700 folder. */
class RdbReader {
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "rst-restore-"));
    readonly name = `rst-restore-${path
        .basename(this.dir)
        .slice("rst-restore-".length)
        .toLowerCase()
        .replace(/[^a-z0-9]/g, "")}`;
    private started = false;

    constructor(
        private readonly rdb: string,
        private readonly image: string,
    ) {}

    async start(timeoutMs: number): Promise<wire.RedisClient> {
        fs.copyFileSync(this.rdb, path.join(this.dir, "dump.rdb"));
        fs.chmodSync(path.join(this.dir, "dump.rdb"), 0o600);
        const uid = process.getuid?.() ?? 0,
            gid = process.getgid?.() ?? 0;
        await docker([
            "run",
            "-d",
            "--name",
            this.name,
            "--network",
            "none",
            "--user",
            `${uid}:${gid}`,
            "--read-only",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges:true",
            "-v",
            `${this.dir}:/work`,
            this.image,
            "redis-server",
            "--dir",
            "/work",
            "--dbfilename",
            "dump.rdb",
            "--port",
            "0",
            "--unixsocket",
            "/work/redis.sock",
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--databases",
            "16",
        ]);
        this.started = true;
        let client: wire.RedisClient | undefined;
        await wire
            .waitUntil(
                `${path.basename(this.rdb)} to load`,
                async () => {
                    const state = await docker(["inspect", "-f", "{{.State.Running}}", this.name]);
                    if (state !== "true")
                        throw new Error(
                            `the server reading it exited: ${(await docker(["logs", "--tail", "3", this.name]).catch(() => "")).replace(/\s+/g, " ")}`,
                        );
                    if (!fs.existsSync(path.join(this.dir, "redis.sock"))) return false;
                    client = client ?? (await wire.connectUnix(path.join(this.dir, "redis.sock")));
                    return (await wire.info(client, "persistence")).loading === "0";
                },
                timeoutMs,
                100,
            )
            .catch(async e => {
                client?.disconnect();
                const logs = await docker(["logs", "--tail", "5", this.name]).catch(() => "");
                throw new Error(
                    `cannot read ${path.basename(this.rdb)}: ${(e as Error).message}${/Short read|Bad file format|Wrong RDB/.test(logs) ? " (the RDB is not valid)" : ""}`,
                );
            });
        return client!;
    }

    async stop(): Promise<void> {
        if (this.started) await docker(["rm", "-f", this.name]).catch(() => undefined);
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

/**
 * Restores the backup in `o.from` into `t`. Before anything changes: every checksum, the manifest, the shape (kind,
 * masters, each master's slots), a target without keys (unless `replace`), and every RDB loaded by its reader. Then
 * each master's keys with their expiry, and waits until every replica has them.
 */
export async function restore(t: Topology, o: RestoreOptions): Promise<{ keys: number }> {
    const log = o.log ?? (l => console.log(l));
    const timeoutMs = o.timeoutMs ?? 300_000;
    const m = readBackup(o.from);
    log(`restore: backup of ${m.createdAt}, ${m.masters.length} master(s), checksums ok`);
    const live = await liveMasters(t);
    const problems = shapeProblems(m, t.kind, live);
    if (problems.length)
        throw new Error(`the target does not have the backup's shape; nothing was changed:\n  - ${problems.join("\n  - ")}`);
    if (!o.replace) {
        for (const x of live) {
            const keys = [...(await on(t, x.node, c => wire.keyspace(c))).values()].reduce((a, b) => a + b, 0);
            if (keys)
                throw new Error(
                    `${x.name} holds ${keys} key(s); restore into an empty target, or give --replace to overwrite keys; nothing was changed`,
                );
        }
    }
    const readers = m.masters.map(b => new RdbReader(path.join(o.from, b.file), o.image ?? DEFAULT_IMAGE));
    const sources: wire.RedisClient[] = [];
    let total = 0;
    try {
        for (const r of readers) sources.push(await r.start(timeoutMs));
        for (const [i, b] of m.masters.entries()) {
            const target = live[i];
            const t0 = Date.now();
            let n = 0;
            await on(t, target.node, async c => {
                for (const db of (await wire.keyspace(sources[i])).keys()) {
                    for await (const keys of wire.dumpKeys(sources[i], db)) {
                        await wire.restoreKeys(c, db, keys, o.replace ?? false);
                        n += keys.length;
                        o.progress?.(`[${i + 1}/${m.masters.length}] ${b.file} -> ${target.name}: ${n} keys`);
                    }
                }
                // Every replica under this master (a chain's too: one replication stream, one offset) has caught up.
                const offset = Number((await wire.info(c, "replication")).master_repl_offset);
                const root = rootMaster(t, target.node).name;
                for (const r of t.nodes.filter(x => x !== target.node && rootMaster(t, x).name === root)) {
                    await on(t, r, rc =>
                        wire.waitUntil(
                            `${r.name} to replicate the restored keys`,
                            async () => {
                                const repl = await wire.info(rc, "replication");
                                return (
                                    (repl.master_link_status === "up" && Number(repl.slave_repl_offset) >= offset) ||
                                    `link ${repl.master_link_status}, offset ${repl.slave_repl_offset} of ${offset}`
                                );
                            },
                            timeoutMs,
                            100,
                        ),
                    );
                }
            });
            total += n;
            log(
                `[${i + 1}/${m.masters.length}] ${b.file} -> ${target.name}: ${n} keys in ${((Date.now() - t0) / 1000).toFixed(1)} s, replicas in sync`,
            );
        }
    } finally {
        for (const s of sources) s.disconnect();
        for (const r of readers) await r.stop();
    }
    log(`restore: ${total} keys`);
    return { keys: total };
}
