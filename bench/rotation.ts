// A certificate rotation of a 3+3 RedisCluster (TLS) deployed by the engine: the rolling reload (TlsReload: the
// certificates renewed by the tls provider, after their recorded validity moved 13 h back, loaded with CONFIG SET one
// node at a time) vs a replacement of every node, as a renewal did before TLS files were hot (forced here by a change
// that replaces the containers: maxmemory, i.e. a new files label). While each `pulumi up` runs, a client writes
// (SET then GET) continuously; reported: the up's duration, the longest gap between two successful writes, the failed
// commands, and how long after the up the cluster is healthy (every node cluster_state:ok, every replica linked).
// Part of `npm run bench`; alone: `npx ts-node --transpile-only bench/rotation.ts` (subnet 172.25.72.0/24).
import type { Stack } from "@pulumi/pulumi/automation";
import * as os from "os";
import { connect } from "../components/client";
import { clusterOutputs, RedisCluster } from "../components/cluster";
import { clusterHealthy, sleep, WRITER_CLIENT } from "../test/integration/chaos-writer";
import { DeployedCluster, plainOutputs, testStack } from "../test/integration/deploy";
import { Scope } from "../test/integration/harness";
import { cleanupScope } from "./common";

const SUBNET = "172.25.72.0/24";
const SIGNED = "tls:index/locallySignedCert:LocallySignedCert";

export interface RotationRow {
    how: string;
    upS: number;
    gapS: number;
    failed: number;
    writes: number;
    healthyAfterS: number;
}

async function ageCertificates(stack: Stack, hours: number): Promise<void> {
    const state = await stack.exportStack();
    for (const r of state.deployment.resources ?? []) {
        if (r.type !== SIGNED) continue;
        for (const k of ["validityStartTime", "validityEndTime"])
            r.outputs[k] = new Date(Date.parse(r.outputs[k]) - hours * 3_600_000).toISOString();
    }
    await stack.importStack(state);
}

export async function benchRotation(scope: Scope, subnet: string, log: (s: string) => void): Promise<RotationRow[]> {
    let maxmemory = "200mb";
    const stack = await testStack(scope, "benchrot", async () => ({
        itcrb: clusterOutputs(
            new RedisCluster("itcrb", {
                antiAffinity: "soft",
                subnet,
                nodeTimeoutMs: 3000,
                maxmemory,
                certificates: { validityHours: 24, earlyRenewalHours: 12 },
            }),
        ),
    }));
    const rows: RotationRow[] = [];
    try {
        let cluster = new DeployedCluster(plainOutputs((await stack.up()).outputs), "itcrb");
        /** One `up` (after `prepare`) under a writer: the row. */
        const measure = async (how: string, prepare: () => Promise<void>) => {
            await clusterHealthy(cluster.plan, { auth: cluster.target.auth, tls: cluster.target.tls });
            const app = await connect({ kind: "cluster", nodes: cluster.masters, tls: cluster.target.tls, ...cluster.app }, WRITER_CLIENT);
            let on = true,
                writes = 0,
                failed = 0,
                last = Date.now(),
                gap = 0;
            const writer = (async () => {
                for (let i = 0; on && i < 200_000; i++) {
                    writes++;
                    try {
                        await app.set(`bench:${how}:${i}`, "v");
                        if ((await app.get(`bench:${how}:${i}`)) !== "v") throw new Error("read");
                        gap = Math.max(gap, Date.now() - last);
                        last = Date.now();
                    } catch {
                        failed++;
                        await sleep(50);
                    }
                    await sleep(2);
                }
            })();
            await sleep(1000);
            await prepare();
            const t0 = Date.now();
            cluster = new DeployedCluster(plainOutputs((await stack.up()).outputs), "itcrb");
            const upMs = Date.now() - t0;
            await clusterHealthy(cluster.plan, { auth: cluster.target.auth, tls: cluster.target.tls }, 120_000);
            const healthyMs = Date.now() - t0 - upMs;
            // Writes go on until the cluster answers again (bounded by the writer's count).
            await sleep(1000);
            on = false;
            await writer;
            app.disconnect();
            gap = Math.max(gap, Date.now() - last);
            const row = { how, upS: upMs / 1000, gapS: gap / 1000, failed, writes, healthyAfterS: healthyMs / 1000 };
            log(`  ${JSON.stringify(row)}`);
            rows.push(row);
        };
        await measure("rolling reload (TlsReload)", () => ageCertificates(stack, 13));
        await measure("replacement of every node", async () => {
            maxmemory = "256mb";
        });
        return rows;
    } finally {
        await stack.destroy().catch(e => log(`destroy failed: ${(e as Error).message}`));
    }
}

export function rotationTable(rows: RotationRow[]): string {
    const base = rows.find(r => r.how.startsWith("replacement"))!;
    return [
        "| 3+3 cluster, certificates renewed by | `pulumi up` | longest write gap | failed commands (of) | healthy after the up | up vs replacement |",
        "|---|---|---|---|---|---|",
        ...rows.map(
            r =>
                `| ${r.how} | ${r.upS.toFixed(1)} s | ${r.gapS.toFixed(2)} s | ${r.failed} (${r.writes}) | ${r.healthyAfterS.toFixed(1)} s | ${(r.upS / base.upS).toFixed(2)} |`,
        ),
    ].join("\n");
}

if (require.main === module) {
    const scope = new Scope();
    benchRotation(scope, SUBNET, s => console.log(s))
        .then(rows =>
            console.log(
                `\nload average ${os
                    .loadavg()
                    .map((l: number) => l.toFixed(1))
                    .join(" ")}\n\n${rotationTable(rows)}`,
            ),
        )
        .catch(e => {
            console.error(e);
            process.exitCode = 1;
        })
        .finally(() => cleanupScope(scope));
}
