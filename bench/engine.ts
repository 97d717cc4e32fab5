// The engine's fixed costs on the real Pulumi CLI: `preview` and a no-op `up` of an empty program, and a no-op `up`
// of a stack holding a ClusterBootstrap over a live 3+3 cluster (its diff runs, nothing changes).
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { performance } from "perf_hooks";
import { ClusterBootstrap } from "../components/cluster/bootstrap";
import { planCluster } from "../components/cluster/plan";
import { inlineStack } from "../scripts/stack";
import { aclFor, Scope, testUsers } from "../test/integration/harness";
import { start } from "./bootstrap";
import { median } from "./common";

export interface EngineTimes { emptyPreview: number; emptyNoopUp: number; clusterNoopUp: number; clusterFirstUp: number; reps: number }

async function timed(f: () => Promise<unknown>): Promise<number> {
    const t = performance.now();
    await f();
    return performance.now() - t;
}

export async function benchEngine(scope: Scope, subnet: string, reps: number, log: (s: string) => void): Promise<EngineTimes> {
    const backend = path.join(scope.dir, "engine-state");
    fs.mkdirSync(backend);
    const empty = await inlineStack("rst-bench-empty", "bench", backend, async () => ({}));
    const plan = planCluster({ name: "bench-eng", masters: 3, replicasPerMaster: 1, hosts: ["local"], subnet, port: 6379 });
    const pw = testUsers();
    await start(scope, plan, subnet, aclFor(pw), pw.replication);
    const cluster = await inlineStack("rst-bench-cluster", "bench", backend, async () => {
        const b = new ClusterBootstrap("bench-eng", {
            clusterName: "bench-eng",
            nodes: plan.map(({ host: _h, ...n }) => n),
            auth: pulumi.secret({ username: "admin", password: pw.admin }),
        });
        return { nodeIds: b.nodeIds };
    });
    try {
        await empty.up();
        const clusterFirstUp = await timed(() => cluster.up());
        log(`  engine: first up of the 3+3 bootstrap stack ${(clusterFirstUp / 1000).toFixed(2)} s`);
        const runs = { emptyPreview: [] as number[], emptyNoopUp: [] as number[], clusterNoopUp: [] as number[] };
        for (let i = 0; i < reps; i++) {
            runs.emptyPreview.push(await timed(() => empty.preview()));
            runs.emptyNoopUp.push(await timed(() => empty.up()));
            runs.clusterNoopUp.push(await timed(async () => {
                const r = await cluster.up();
                if (Object.keys(r.summary.resourceChanges ?? {}).some(k => k !== "same")) throw new Error(`no-op up changed something: ${JSON.stringify(r.summary.resourceChanges)}`);
            }));
            log(`  engine rep ${i + 1}: empty preview ${(runs.emptyPreview[i] / 1000).toFixed(2)} s, empty up ${(runs.emptyNoopUp[i] / 1000).toFixed(2)} s, ` +
                `no-op up of the cluster stack ${(runs.clusterNoopUp[i] / 1000).toFixed(2)} s`);
        }
        return {
            emptyPreview: median(runs.emptyPreview), emptyNoopUp: median(runs.emptyNoopUp), clusterNoopUp: median(runs.clusterNoopUp),
            clusterFirstUp, reps,
        };
    } finally {
        await cluster.destroy().catch(() => undefined);
        await empty.destroy().catch(() => undefined);
    }
}
