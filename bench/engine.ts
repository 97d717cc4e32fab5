// The engine's fixed costs on the real Pulumi CLI: `preview` and a no-op `up` of an empty program, and a no-op `up`
// of a stack holding a ClusterBootstrap over a live 3+3 cluster (its diff runs, nothing changes); and how long that
// diff, and a preview, take to give up when no node answers (every container paused; drift.test.ts checks the result).
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { performance } from "perf_hooks";
import { clusterBootstrapProvider, ClusterBootstrap } from "../components/cluster/bootstrap";
import { placeClusterNodes } from "../components/cluster/plan";
import { inlineStack } from "../scripts/workspace";
import { aclFor, docker, Scope, testUsers } from "../test/integration/harness";
import { start } from "./bootstrap";
import { median } from "./common";

export interface EngineTimes {
    emptyPreview: number;
    emptyNoopUp: number;
    clusterNoopUp: number;
    clusterFirstUp: number;
    /** With every node paused: the bootstrap's diff (in-process) and a preview of its stack, medians. */
    unreachableDiff: number;
    unreachablePreview: number;
    reps: number;
}

async function timed(f: () => Promise<unknown>): Promise<number> {
    const t = performance.now();
    await f();
    return performance.now() - t;
}

export async function benchEngine(scope: Scope, subnet: string, reps: number, log: (s: string) => void): Promise<EngineTimes> {
    const backend = path.join(scope.dir, "engine-state");
    fs.mkdirSync(backend);
    const empty = await inlineStack("rst-bench-empty", "bench", backend, async () => ({}));
    const plan = placeClusterNodes({ name: "bench-eng", masters: 3, replicasPerMaster: 1, hosts: ["local"], subnet, port: 6379 });
    const pw = testUsers();
    await start(scope, plan, subnet, aclFor(pw), pw.replication);
    const props = { clusterName: "bench-eng", nodes: plan.map(({ host: _h, ...n }) => n), auth: { username: "admin", password: pw.admin } };
    const cluster = await inlineStack("rst-bench-cluster", "bench", backend, async () => {
        const b = new ClusterBootstrap("bench-eng", { ...props, auth: pulumi.secret(props.auth) });
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
            runs.clusterNoopUp.push(
                await timed(async () => {
                    const r = await cluster.up();
                    if (Object.keys(r.summary.resourceChanges ?? {}).some(k => k !== "same"))
                        throw new Error(`no-op up changed something: ${JSON.stringify(r.summary.resourceChanges)}`);
                }),
            );
            log(
                `  engine rep ${i + 1}: empty preview ${(runs.emptyPreview[i] / 1000).toFixed(2)} s, empty up ${(runs.emptyNoopUp[i] / 1000).toFixed(2)} s, ` +
                    `no-op up of the cluster stack ${(runs.clusterNoopUp[i] / 1000).toFixed(2)} s`,
            );
        }
        const paused = { diff: [] as number[], preview: [] as number[] };
        docker("pause", ...plan.map(n => n.name));
        try {
            for (let i = 0; i < reps; i++) {
                paused.diff.push(
                    await timed(async () => {
                        const d = await clusterBootstrapProvider.diff!("bench-eng", props, props);
                        if (d.changes) throw new Error("the diff with every node paused asked for a change");
                    }),
                );
                paused.preview.push(await timed(() => cluster.preview({ expectNoChanges: true })));
                log(
                    `  engine rep ${i + 1}, every node paused: diff ${(paused.diff[i] / 1000).toFixed(2)} s, preview ${(paused.preview[i] / 1000).toFixed(2)} s`,
                );
            }
        } finally {
            docker("unpause", ...plan.map(n => n.name));
        }
        return {
            emptyPreview: median(runs.emptyPreview),
            emptyNoopUp: median(runs.emptyNoopUp),
            clusterNoopUp: median(runs.clusterNoopUp),
            clusterFirstUp,
            unreachableDiff: median(paused.diff),
            unreachablePreview: median(paused.preview),
            reps,
        };
    } finally {
        await cluster.destroy().catch(() => undefined);
        await empty.destroy().catch(() => undefined);
    }
}
