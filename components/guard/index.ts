// The guard: keeps a RedisCluster in its planned shape between deployments. Each pass reads every node
// (read-only), prints a status table and the drift from the plan, and, if this guard holds the lease, heals with
// converge(). The lease (proper-lockfile: a lock directory whose mtime the holder refreshes, taken over once
// stale) lets several guards run safely: one acts, the others only report.
import * as fs from "fs";
import * as path from "path";
import * as lockfile from "proper-lockfile";
import { converge } from "../cluster/converge";
import type { RedisClusterOutputs } from "../cluster/outputs";
import type { PlannedNode } from "../cluster/plan";
import { drift, readCluster, statusTable } from "../cluster/status";
import type { Auth, TlsMaterial } from "../redis/wire";

export interface GuardTarget {
    nodes: Omit<PlannedNode, "host">[];
    /** Secret: the admin user. */
    auth: Auth;
    /** Secret: CA and client certificate/key; absent for a plain-TCP cluster. */
    tls?: TlsMaterial;
}

/**
 * The target from a RedisCluster's stack outputs (RedisClusterOutputs, e.g. program.ts's `cluster`), or from the whole
 * stack outputs holding them under `key`. They come from JSON: the fields used are checked first.
 */
export function targetFromOutputs(outputs: Record<string, unknown>, key = "cluster"): GuardTarget {
    const o = (outputs?.[key] ?? outputs) as Partial<RedisClusterOutputs> | undefined;
    const missing = (field: string) =>
        new Error(`the cluster output has no ${field} (expected RedisCluster's outputs under "${key}" or at the top level)`);
    if (!Array.isArray(o?.nodes) || o.nodes.length === 0) throw missing("nodes");
    if (typeof o.adminUser?.username !== "string" || typeof o.adminUser?.password !== "string") throw missing("adminUser");
    const tls = o.tls !== false;
    if (tls && typeof o.caCertPem !== "string") throw missing("caCertPem");
    return {
        nodes: o.nodes.map(({ host: _host, ...n }) => n),
        auth: { username: o.adminUser.username, password: o.adminUser.password },
        tls: tls ? { ca: o.caCertPem!, cert: o.clientCertPem, key: o.clientKeyPem } : undefined,
    };
}

export interface GuardOptions {
    /** One pass, then stop. */
    once?: boolean;
    /** Between passes (default 30 s). */
    intervalMs?: number;
    /** The lease's path (a lock directory is created there). */
    lease: string;
    /** converge()'s limit (default 60 s). */
    timeoutMs?: number;
    log?: (line: string) => void;
    /** Stops the loop (e.g. on SIGINT). */
    signal?: AbortSignal;
}

/** Runs passes until `once` or `signal`; returns 0 when the last pass ended with the cluster as planned, else 1. */
export async function guard(t: GuardTarget, o: GuardOptions): Promise<number> {
    const log = o.log ?? (line => console.log(line));
    const lease = new Lease(o.lease, log);
    log(`guard: ${t.nodes.length} nodes, lease ${o.lease}`);
    let ok = false;
    try {
        for (;;) {
            const acting = await lease.take();
            ok = await pass(t, acting, o.timeoutMs ?? 60_000, log);
            if (o.once || o.signal?.aborted) break;
            await sleep(o.intervalMs ?? 30_000, o.signal);
            if (o.signal?.aborted) break;
        }
    } finally {
        await lease.release();
    }
    return ok ? 0 : 1;
}

/** One look at the cluster, healing when this guard holds the lease. True when it ends as planned. */
export async function pass(t: GuardTarget, acting: boolean, timeoutMs: number, log: (line: string) => void): Promise<boolean> {
    const look = async () => {
        log(`[${new Date().toISOString()}] reading ${t.nodes.length} nodes`);
        const live = await readCluster({ nodes: t.nodes, auth: t.auth, tls: t.tls });
        log(statusTable(t.nodes, live));
        const silent = live.filter(l => !l.report);
        for (const l of silent) log(`unreachable: ${l.name}: ${l.error}`);
        const findings = drift(t.nodes, live);
        if (findings.length) log(`drift (${findings.length}):\n${findings.map(f => `  - ${f}`).join("\n")}`);
        return { findings, silent };
    };
    const before = await look();
    if (!before.findings.length && !before.silent.length) {
        log("ok: the cluster matches the plan; no action");
        return true;
    }
    if (!acting) {
        log("reporting only: another guard holds the lease; no action");
        return false;
    }
    if (before.silent.length) {
        log(`not healing: converge needs every node, and ${before.silent.map(l => l.name).join(", ")} did not answer; no action`);
        return false;
    }
    log(`healing: converging to the plan (up to ${Math.round(timeoutMs / 1000)} s)`);
    const t0 = Date.now();
    try {
        const r = await converge({ nodes: t.nodes, auth: t.auth, tls: t.tls, timeoutMs });
        for (const a of r.actions) log(`action: ${a}`);
        log(`converged in ${((Date.now() - t0) / 1000).toFixed(1)} s with ${r.actions.length} action(s)`);
    } catch (e) {
        log(`healing failed after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${(e as Error).message}`);
        return false;
    }
    const after = await look();
    const ok = !after.findings.length && !after.silent.length;
    log(ok ? "ok: the cluster matches the plan again" : "drift remains after healing");
    return ok;
}

class Lease {
    private unlock?: () => Promise<void>;
    private toldHeld = false;

    constructor(
        private readonly file: string,
        private readonly log: (line: string) => void,
    ) {}

    /** True when this guard holds the lease (taking it if it is free, or stale: its holder stopped refreshing it). */
    async take(): Promise<boolean> {
        if (this.unlock) return true;
        fs.mkdirSync(path.dirname(this.file), { recursive: true });
        try {
            this.unlock = await lockfile.lock(this.file, {
                realpath: false,
                lockfilePath: this.file,
                stale: 20_000,
                update: 5_000,
                retries: 0,
                onCompromised: e => {
                    this.unlock = undefined;
                    this.log(`lease: lost (${e.message})`);
                },
            });
            this.log("lease: taken; this guard heals");
            this.toldHeld = false;
            return true;
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "ELOCKED") throw e;
            if (!this.toldHeld) this.log("lease: held by another guard; this guard only reports");
            this.toldHeld = true;
            return false;
        }
    }

    async release(): Promise<void> {
        const unlock = this.unlock;
        this.unlock = undefined;
        await unlock?.().catch(() => undefined);
    }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise(resolve => {
        const timer = setTimeout(resolve, ms);
        signal?.addEventListener(
            "abort",
            () => {
                clearTimeout(timer);
                resolve();
            },
            { once: true },
        );
    });
}
