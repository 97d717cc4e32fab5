// Drift on the real Pulumi engine (Automation API) and real containers: a master fails over and comes back as a
// replica while the inputs stay the same. The provider's diff sees it, `pulumi refresh` records it, a plain
// `pulumi up` repairs it; the guard reads the stack's outputs; a preview that reaches no node shows no change.
import * as pulumi from "@pulumi/pulumi";
import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import * as fs from "fs";
import * as path from "path";
import { clusterBootstrapProvider, ClusterBootstrap } from "../../components/cluster/bootstrap";
import { drift, readCluster } from "../../components/cluster/status";
import * as wire from "../../components/redis/wire";
import { toolchain } from "../../scripts/stack";
import { docker, failOverAndBack, runCli, Scope, testCluster } from "./harness";

jest.setTimeout(300_000);

describe("drift: the live cluster leaves its plan, the inputs stay the same", () => {
    const scope = new Scope();
    const { pw, admin, plan, client, tls, nodes, start } = testCluster(scope, "itdr", "172.25.60.0/24");
    const [m0, r0] = [plan[0], plan.find(n => n.masterName === plan[0].name)!];
    const props = () => ({ clusterName: "itdr", nodes, auth: admin, tls });
    const expected = ["itdr-m0 is replica of itdr-m0-r0, planned master", "itdr-m0-r0 is master of slots 0-5460, planned replica of itdr-m0"];
    let stack: Stack;
    let backend: string;
    let env: Record<string, string>;
    const log: string[] = [];
    const onOutput = (s: string) => { log.push(s); };
    const roleOf = (n: typeof m0) => wire.withClient({ host: n.ip, port: n.port }, { auth: admin, tls }, async c => (await wire.info(c, "replication")).role);
    const recordedDrift = async () => (await stack.exportStack()).deployment.resources
        .find((r: { type: string }) => r.type === "pulumi-nodejs:dynamic/redis:ClusterBootstrap").outputs.drift;

    beforeAll(async () => {
        // diff() called in-process prints its findings (for the engine's output): keep them out of the test log.
        jest.spyOn(console, "error").mockImplementation(() => undefined);
        start();
        const tc = toolchain();
        backend = path.join(scope.dir, "state");
        fs.mkdirSync(backend);
        env = {
            PULUMI_BACKEND_URL: `file://${backend}`,
            PULUMI_CONFIG_PASSPHRASE: "drift-test",
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
            PULUMI_HOME: path.join(scope.dir, "pulumi-home"),
            PATH: `${tc.binDir}:${process.env.PATH}`,
        };
        stack = await LocalWorkspace.createOrSelectStack({
            stackName: "drift",
            projectName: "rst-drift-test",
            program: async () => {
                const b = new ClusterBootstrap("itdr", { clusterName: "itdr", nodes, auth: pulumi.secret(admin), tls: pulumi.secret(tls) });
                // Shaped like program.ts's `cluster` output, which the guard reads.
                return {
                    drift: b.drift,
                    cluster: { nodes: plan, tls: true, caCertPem: tls.ca, clientCertPem: tls.cert, clientKeyPem: pulumi.secret(tls.key), adminUser: pulumi.secret(admin) },
                };
            },
        }, { pulumiCommand: await PulumiCommand.get({ root: tc.root, skipVersionCheck: true }), envVars: env });
    });
    afterAll(async () => {
        jest.restoreAllMocks();
        scope.cleanup();
    }, 60_000);

    test("up bootstraps, records no drift, and a second preview shows no changes", async () => {
        const r = await stack.up({ onOutput });
        expect(r.summary.result).toBe("succeeded");
        expect(r.outputs.drift.value).toEqual([]);
        await stack.preview({ expectNoChanges: true });
    });

    test("a master that failed over and came back is drift, and the provider's diff asks for an update", async () => {
        expect(await clusterBootstrapProvider.diff!("itdr", props(), props())).toMatchObject({ changes: false });
        await failOverAndBack(m0, r0, { auth: admin, tls });
        // Gossip settles in a moment (the others clear their FAIL flag for the returned node).
        await wire.waitUntil("the drift to be exactly the swapped roles", async () => {
            const found = drift(nodes, await readCluster({ nodes, auth: admin, tls }));
            return JSON.stringify(found) === JSON.stringify(expected) || found.join("; ");
        }, 20_000, 200);
        expect(await clusterBootstrapProvider.diff!("itdr", props(), props())).toMatchObject({ changes: true, replaces: [] });
    });

    test("a preview with unchanged inputs shows the update and says why", async () => {
        const p = await stack.preview({ diff: true });
        expect(p.changeSummary.update).toBe(1);
        // The dynamic provider protocol carries no detailed diff: the findings come as the provider's stderr.
        for (const f of expected) expect(p.stderr).toContain(`itdr: drift: ${f}`);
    });

    test("refresh records the drift in the state, still without a secret in plain text", async () => {
        expect(await recordedDrift()).toEqual([]);
        const r = await stack.refresh({ onOutput });
        expect(r.summary.result).toBe("succeeded");
        expect(await recordedDrift()).toEqual(expected);
        expect(await roleOf(m0)).toBe("slave"); // refresh only reads
        const stored = filesUnder(backend).map(f => fs.readFileSync(f, "utf8")).join("\n");
        expect(stored).toContain("itdr-m0-r0 is master of slots 0-5460");
        expect(stored).not.toContain(pw.admin);
        expect(stored).not.toContain(client.key.split("\n")[1]);
    });

    test("up with unchanged inputs repairs: planned roles back, no drift recorded, then no changes", async () => {
        const r = await stack.up({ onOutput });
        expect(r.summary.resourceChanges).toMatchObject({ update: 1 });
        expect(await roleOf(m0)).toBe("master");
        expect(await roleOf(r0)).toBe("slave");
        expect(r.outputs.drift.value).toEqual([]);
        expect(await recordedDrift()).toEqual([]);
        await stack.preview({ expectNoChanges: true });
        expect(log.join("")).not.toContain(pw.admin);
    });

    test("guard --stack reads the stack's outputs (secrets included), prints the table and has nothing to do", async () => {
        const { code, out } = await runCli(["guard", "--stack", "drift", "--cwd", stack.workspace.workDir, "--once"],
            { ...env, PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true" });
        expect(out).toMatch(/node\s+planned\s+live\s+master\s+link\s+slots\s+state/);
        expect(out).toMatch(/itdr-m0\s+master\s+master\s+-\s+-\s+0-5460\s+ok/);
        expect(out).toContain("ok: the cluster matches the plan; no action");
        expect(out).not.toContain(pw.admin);
        expect(code).toBe(0);
        // The lease lives beside the file backend.
        expect(out).toContain(`lease ${path.join(backend, "guard-drift.lease")}`);
    });

    test("nodes that do not answer are unknown, not drift: diff gives up quickly and a preview shows no changes", async () => {
        await failOverAndBack(m0, r0, { auth: admin, tls });
        docker("pause", ...plan.map(n => n.name));
        try {
            const t0 = Date.now();
            expect(await clusterBootstrapProvider.diff!("itdr", props(), props())).toMatchObject({ changes: false });
            expect(Date.now() - t0).toBeLessThan(4000);
            await stack.preview({ expectNoChanges: true });
        } finally {
            docker("unpause", ...plan.map(n => n.name));
        }
        // Reachable again, the drift shows again.
        await wire.waitUntil("diff to see the drift again", async () => (await clusterBootstrapProvider.diff!("itdr", props(), props())).changes === true, 20_000, 200);
    });

    test("destroy succeeds", async () => {
        const r = await stack.destroy({ onOutput });
        expect(r.summary.result).toBe("succeeded");
    });
});

function filesUnder(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap(e =>
        e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]);
}
