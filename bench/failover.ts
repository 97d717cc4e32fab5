// Failover as users see it: a RedisCluster 3+3 through the engine, a master's redis-server SIGKILLed (Docker restarts
// its container, which waits crashRestartDelayMs so the replica takes over), then the clock: every slot writable again,
// the dead master back as a replica, and the planned roles back after `pulumi up` (the bootstrap's converge) or one
// guard pass. At the default node timeout and a tuned one.
import keySlot from "cluster-key-slot";
import { performance } from "perf_hooks";
import { clusterOutputs, PlannedNode, RedisCluster } from "../components/cluster";
import { crashRestartDelayMs } from "../components/redis/conf";
import { pass, targetFromOutputs } from "../components/guard";
import * as wire from "../components/redis/wire";
import { docker, Scope } from "../test/integration/harness";
import { plainOutputs, testStack } from "../test/integration/deploy";
import { median } from "./common";

type Client = Awaited<ReturnType<typeof wire.connect>>;
const ep = (n: PlannedNode) => ({ host: n.ip, port: n.port });

export interface FailoverRun {
    victim: string;
    healer: "pulumi up" | "guard";
    writable: number;
    rejoined: number;
    healed: number;
    healMs: number;
}
export interface FailoverRow {
    nodeTimeoutMs: number;
    crashWaitMs: number;
    runs: FailoverRun[];
    writable: number;
    rejoined: number;
    healedUp?: number;
    healedGuard?: number;
}

/** One key per master's planned slot range. */
function shardKeys(plan: PlannedNode[]): Map<string, string> {
    const keys = new Map<string, string>();
    const masters = plan.filter(n => n.role === "master");
    for (let i = 0; keys.size < masters.length; i++) {
        const s = keySlot(`bn:${i}`);
        const m = masters.find(x => x.slots && s >= x.slots[0] && s <= x.slots[1]);
        if (m && !keys.has(m.name)) keys.set(m.name, `bn:${i}`);
    }
    return keys;
}

/** Each shard takes a write on its master or its replica (a replica answers MOVED until promoted). */
async function everyShardWritable(plan: PlannedNode[], keys: Map<string, string>, clients: Map<string, Client>): Promise<boolean> {
    for (const [master, key] of keys) {
        const members = plan.filter(n => n.name === master || n.masterName === master);
        let ok = false;
        for (const n of members) {
            const c = clients.get(n.name);
            if (!c) continue;
            ok = await c.set(key, "x").then(
                r => r === "OK",
                () => false,
            );
            if (ok) break;
        }
        if (!ok) return false;
    }
    return true;
}

export async function benchFailover(
    subnet: string,
    timeouts: number[],
    scopes: Set<Scope>,
    log: (s: string) => void,
): Promise<FailoverRow[]> {
    const rows: FailoverRow[] = [];
    for (const nodeTimeoutMs of timeouts) {
        const scope = new Scope();
        scopes.add(scope);
        const stack = await testStack(scope, `bnfo${nodeTimeoutMs}`, async () => {
            const c = new RedisCluster(`bnfo`, {
                masters: 3,
                replicasPerMaster: 1,
                antiAffinity: "soft",
                subnet,
                nodeTimeoutMs,
                maxmemory: "32mb",
            });
            return { cluster: clusterOutputs(c) };
        });
        const clients = new Map<string, Client>();
        try {
            const out = plainOutputs((await stack.up()).outputs);
            const target = targetFromOutputs(out);
            const plan = out.cluster.nodes as PlannedNode[];
            const o = { auth: target.auth, tls: target.tls, connectTimeoutMs: 2000 };
            const keys = shardKeys(plan);
            const role = (n: PlannedNode) => wire.withClient(ep(n), o, async c => wire.info(c, "replication")).catch(() => undefined);
            const runs: FailoverRun[] = [];
            for (const [i, healer] of (["pulumi up", "guard"] as const).entries()) {
                const victim = plan.filter(n => n.role === "master")[i + 1];
                const replica = plan.find(n => n.masterName === victim.name)!;
                for (const n of plan) clients.set(n.name, await wire.connect(ep(n), { ...o, commandTimeoutMs: 1000 }));
                await wire.waitUntil("every shard writable before the kill", () => everyShardWritable(plan, keys, clients), 60_000, 200);
                const t0 = performance.now();
                docker("exec", "-u", "redis", victim.name, "sh", "-c", "kill -KILL $(cat /proc/1/task/1/children)");
                await wire.waitUntil("every slot writable again", () => everyShardWritable(plan, keys, clients), 120_000, 50);
                const writable = performance.now() - t0;
                await wire.waitUntil(
                    `${victim.name} back as a linked replica`,
                    async () => {
                        const r = await role(victim);
                        return r?.role === "slave" && r.master_link_status === "up";
                    },
                    120_000,
                    100,
                );
                const rejoined = performance.now() - t0;
                const h0 = performance.now();
                if (healer === "pulumi up") await stack.up();
                else if (!(await pass(target, true, 60_000, () => undefined))) throw new Error("the guard pass did not end as planned");
                const healMs = performance.now() - h0;
                for (const n of [victim, replica]) {
                    const r = await role(n);
                    if (r?.role !== (n.role === "master" ? "master" : "slave")) throw new Error(`${n.name} is ${r?.role} after ${healer}`);
                }
                const healed = performance.now() - t0;
                runs.push({ victim: victim.name, healer, writable, rejoined, healed, healMs });
                log(
                    `  node timeout ${nodeTimeoutMs} ms, ${victim.name} killed: every slot writable after ${(writable / 1000).toFixed(2)} s, ` +
                        `back as replica ${(rejoined / 1000).toFixed(2)} s, planned roles after ${healer} ${(healed / 1000).toFixed(2)} s (${healer} ${(healMs / 1000).toFixed(2)} s)`,
                );
                for (const c of clients.values()) await wire.close(c);
                clients.clear();
            }
            rows.push({
                nodeTimeoutMs,
                crashWaitMs: crashRestartDelayMs(nodeTimeoutMs),
                runs,
                writable: median(runs.map(r => r.writable)),
                rejoined: median(runs.map(r => r.rejoined)),
                healedUp: runs.find(r => r.healer === "pulumi up")?.healed,
                healedGuard: runs.find(r => r.healer === "guard")?.healed,
            });
        } finally {
            for (const c of clients.values()) await wire.close(c).catch(() => undefined);
            await stack.destroy().catch(() => undefined);
            scope.cleanup();
            scopes.delete(scope);
        }
    }
    return rows;
}
