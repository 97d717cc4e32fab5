// A backup directory as pure data: which topology it came from (its target, read from stack outputs), the manifest,
// the SHA-256 list and the shape check a restore runs before it changes anything.
import * as crypto from "crypto";
import type { RedisClusterOutputs } from "../cluster/outputs";
import type { PlannedNode } from "../cluster/plan";
import { targetFromOutputs } from "../guard";
import type { Auth, TlsMaterial } from "../redis/wire";

export const FORMAT = 1;
export const MANIFEST_FILE = "manifest.json";
export const SUMS_FILE = "SHA256SUMS";
export const PLAN_FILE = "plan.json";
export const SLOT_MAP_FILE = "cluster-nodes.txt";

/** One node of the topology to back up or restore into, as the CLI reaches it. */
export interface TopologyNode {
    name: string;
    ip: string;
    port: number;
    tls: boolean;
    role: "master" | "replica";
    /** A replica's (planned) master. */
    masterName?: string;
    /** A RedisCluster node's placement host (the backup reads RDB files through the local engine). */
    host?: string;
}

/** "cluster": a RedisCluster; "standalone": masters without slots (a ReplicationChain's head, a single node, a LockQuorum). */
export type TopologyKind = "cluster" | "standalone";

export interface Topology {
    kind: TopologyKind;
    nodes: TopologyNode[];
    auth: Auth;
    tls?: TlsMaterial;
}

/** A ReplicationChain's node has plainPort and tlsPort (0: no such listener), and a replica its replicaOf; others have port. */
interface StandaloneNode {
    name: string;
    ip: string;
    port?: number;
    plainPort?: number;
    tlsPort?: number;
    replicaOf?: { name: string };
}

/** A ReplicationChain's, LockQuorum's or single node's outputs, as far as a backup or restore reads them. */
interface StandaloneOutputs {
    nodes: StandaloneNode[];
    tls?: boolean;
    caCertPem?: string;
    clientCertPem?: string;
    clientKeyPem?: string;
    adminUser: Auth;
}

/**
 * The topology in stack outputs under `key` (default: "cluster" when there is one, else "chain"): a RedisCluster's
 * outputs (RedisClusterOutputs: nodes with slots, as the guard reads them), or a ReplicationChain's / LockQuorum's
 * (StandaloneOutputs: a node with replicaOf is a replica). It needs the admin user. They come from JSON: the fields
 * used are checked first.
 */
export function topologyFromOutputs(outputs: Record<string, unknown>, key?: string): Topology {
    const k = key ?? (outputs?.cluster ? "cluster" : outputs?.chain ? "chain" : undefined);
    const o = (k ? outputs?.[k] : outputs) as Partial<RedisClusterOutputs> | Partial<StandaloneOutputs> | undefined;
    const where = k ? `the stack output "${k}"` : "the outputs";
    if (!o || !Array.isArray(o.nodes) || o.nodes.length === 0)
        throw new Error(`${where} has no nodes (give --output <key> of a RedisCluster, ReplicationChain or single node)`);
    if (typeof o.adminUser?.username !== "string" || typeof o.adminUser?.password !== "string")
        throw new Error(`${where} has no adminUser (export the topology's adminUser)`);
    const auth = { username: o.adminUser.username, password: o.adminUser.password };
    if (isCluster(o)) {
        const t = targetFromOutputs({ cluster: o });
        const hosts = new Map(o.nodes!.map(n => [n.name, n.host]));
        return {
            kind: "cluster",
            auth,
            tls: t.tls,
            nodes: t.nodes.map(n => ({
                name: n.name,
                ip: n.ip,
                port: n.port,
                tls: t.tls !== undefined,
                role: n.role,
                masterName: n.masterName,
                host: hosts.get(n.name),
            })),
        };
    }
    const nodes: TopologyNode[] = (o.nodes as Partial<StandaloneNode>[]).map((n, i) => {
        if (typeof n?.name !== "string" || typeof n?.ip !== "string") throw new Error(`${where}: nodes[${i}] has no name or ip`);
        const tlsPort = Number(n.tlsPort ?? 0);
        const port = tlsPort || Number(n.plainPort ?? n.port ?? 0);
        if (!port) throw new Error(`${where}: nodes[${i}] (${n.name}) has no port`);
        return {
            name: n.name,
            ip: n.ip,
            port,
            tls: tlsPort !== 0 || (n.tlsPort === undefined && o.tls === true),
            role: n.replicaOf ? "replica" : "master",
            masterName: n.replicaOf?.name,
        };
    });
    const tls = nodes.some(n => n.tls);
    if (tls && typeof o.caCertPem !== "string") throw new Error(`${where} has TLS nodes but no caCertPem`);
    return { kind: "standalone", nodes, auth, tls: tls ? { ca: o.caCertPem!, cert: o.clientCertPem, key: o.clientKeyPem } : undefined };
}

/** RedisCluster's outputs have node ids and nodes with slots or a masterName (a chain's replicas have replicaOf). */
function isCluster(o: Partial<RedisClusterOutputs> | Partial<StandaloneOutputs>): o is Partial<RedisClusterOutputs> {
    const nodes = o.nodes as Partial<PlannedNode>[];
    return nodes.some(n => Array.isArray(n.slots) || n.masterName !== undefined) || ("nodeIds" in o && o.nodeIds !== undefined);
}

/** The master a replica finally follows (a chain's C follows B, which follows the head A). */
export function rootMaster(t: Topology, n: TopologyNode): TopologyNode {
    let at = n;
    for (let hops = 0; at.role === "replica"; hops++) {
        const up = t.nodes.find(m => m.name === at.masterName);
        if (!up || hops > t.nodes.length) throw new Error(`${n.name}: its master ${at.masterName} is not among the nodes`);
        at = up;
    }
    return at;
}

export interface ManifestMaster {
    /** The node the RDB was taken from. */
    name: string;
    /** Slot ranges it served at backup time (cluster; [] for standalone). */
    slots: [number, number][];
    /** The RDB file in the backup directory. */
    file: string;
}

export interface Manifest {
    format: typeof FORMAT;
    tool: "redis-secure-topologies";
    kind: TopologyKind;
    createdAt: string;
    /** In slot order (a cluster) or plan order (standalone): restore puts master i's RDB on the target's master i. */
    masters: ManifestMaster[];
    /** Every other file of the directory, with its size (their SHA-256 are in SHA256SUMS, which also covers this file). */
    files: Record<string, { bytes: number }>;
}

/** A manifest file's content, checked field by field; throws naming what is wrong. */
export function parseManifest(text: string): Manifest {
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch (e) {
        throw new Error(`${MANIFEST_FILE} is not JSON: ${(e as Error).message}`);
    }
    // Read as a Manifest, each field checked below before it is trusted.
    const m = parsed as Partial<Manifest> | undefined;
    const bad = (what: string) => new Error(`${MANIFEST_FILE}: ${what}`);
    if (m?.format !== FORMAT) throw bad(`format ${JSON.stringify(m?.format)} is not ${FORMAT}`);
    if (m.kind !== "cluster" && m.kind !== "standalone") throw bad(`kind must be "cluster" or "standalone", got ${JSON.stringify(m.kind)}`);
    if (!Array.isArray(m.masters) || m.masters.length === 0) throw bad("masters must be a non-empty list");
    if (!m.files || typeof m.files !== "object") throw bad("files must be an object");
    for (const [i, x] of m.masters.entries()) {
        if (typeof x?.name !== "string" || !safeFileName(x.file)) throw bad(`masters[${i}] needs a name and a plain file name`);
        if (!(x.file in m.files)) throw bad(`masters[${i}].file ${x.file} is not listed in files`);
        if (
            !Array.isArray(x.slots) ||
            !x.slots.every(r => Array.isArray(r) && r.length === 2 && r.every(s => Number.isInteger(s) && s >= 0 && s < 16384))
        ) {
            throw bad(`masters[${i}].slots must be [from, to] ranges of slots 0..16383`);
        }
    }
    for (const f of Object.keys(m.files)) if (!safeFileName(f)) throw bad(`file name ${JSON.stringify(f)} is not a plain file name`);
    return m as Manifest;
}

/** A name inside the backup directory: no path, no dot file. */
export function safeFileName(f: unknown): f is string {
    return typeof f === "string" && /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(f);
}

export function sha256(data: Buffer | string): string {
    return crypto.createHash("sha256").update(data).digest("hex");
}

/** SHA256SUMS in `sha256sum` format (`sha256sum -c SHA256SUMS` checks it), sorted by file name. */
export function renderSums(sums: Record<string, string>): string {
    return Object.keys(sums)
        .sort()
        .map(f => `${sums[f]}  ${f}\n`)
        .join("");
}

export function parseSums(text: string): Record<string, string> {
    const out: Record<string, string> = {};
    text.split("\n")
        .filter(l => l.length)
        .forEach((l, i) => {
            const m = /^([0-9a-f]{64}) [ *]([^/\s]+)$/.exec(l);
            if (!m || !safeFileName(m[2])) throw new Error(`${SUMS_FILE} line ${i + 1} is not "<sha256>  <file>"`);
            out[m[2]] = m[1];
        });
    return out;
}

/**
 * What is wrong with a directory's files (`read(f)` gives a file's bytes, or undefined when missing) against its
 * SHA256SUMS and manifest: every listed file present with its checksum, the manifest among them, every file the
 * manifest names listed. Empty when intact.
 */
export function integrityProblems(sums: Record<string, string>, read: (f: string) => Buffer | undefined): string[] {
    const problems: string[] = [];
    if (!(MANIFEST_FILE in sums)) problems.push(`${SUMS_FILE} does not list ${MANIFEST_FILE}`);
    for (const [f, want] of Object.entries(sums)) {
        const data = read(f);
        if (data === undefined) problems.push(`${f} is missing`);
        else if (sha256(data) !== want) problems.push(`${f} is corrupt: its SHA-256 is ${sha256(data)}, ${SUMS_FILE} says ${want}`);
    }
    const manifest = read(MANIFEST_FILE);
    if (problems.length || manifest === undefined) return problems;
    for (const f of Object.keys(parseManifest(manifest.toString("utf8")).files)) {
        if (!(f in sums)) problems.push(`${f} (in ${MANIFEST_FILE}) has no checksum in ${SUMS_FILE}`);
    }
    return problems;
}

/** A master of the target as it is live: its name and the slots it serves ([] for standalone). */
export interface LiveMaster {
    name: string;
    slots: [number, number][];
}

/**
 * Why the backup cannot go into this target (empty: it can): the same kind, as many masters, and for a cluster each
 * target master (in slot order) serving exactly the slots its backup master served.
 */
export function shapeProblems(m: Manifest, kind: TopologyKind, live: LiveMaster[]): string[] {
    if (m.kind !== kind) return [`the backup is of a ${m.kind} topology, the target is a ${kind} one`];
    if (m.masters.length !== live.length)
        return [`the backup has ${m.masters.length} masters, the target has ${live.length}: restore needs the same number of masters`];
    const problems: string[] = [];
    m.masters.forEach((b, i) => {
        const a = rangesText(b.slots),
            t = rangesText(live[i].slots);
        if (a !== t)
            problems.push(
                `master ${i + 1} (${b.name} in the backup, ${live[i].name} in the target) served slots ${a || "none"}, the target's serves ${t || "none"}`,
            );
    });
    return problems;
}

const rangesText = (r: [number, number][]) => r.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(",");

/** Live masters in slot order (by their lowest slot), the order a backup lists them in; standalone masters keep theirs. */
export function inSlotOrder<T extends LiveMaster>(masters: T[]): T[] {
    return [...masters].sort((x, y) => (x.slots[0]?.[0] ?? 16384) - (y.slots[0]?.[0] ?? 16384));
}
