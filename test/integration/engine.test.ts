// The real Pulumi engine (the CLI built by scripts/toolchain.sh, Automation API) running the ClusterBootstrap
// dynamic resource against real containers: up, a no-change preview, an update that keeps data, no secret in
// the exported state, and destroy.
import * as pulumi from "@pulumi/pulumi";
import { Stack } from "@pulumi/pulumi/automation";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ClusterBootstrap } from "../../components/cluster/bootstrap";
import * as wire from "../../components/redis/wire";
import { inlineStack, toolchain } from "../../scripts/stack";
import { expectNoSecrets, Scope, testCluster } from "./harness";

jest.setTimeout(300_000);

describe("ClusterBootstrap on the real Pulumi engine", () => {
    const scope = new Scope();
    const { pw, admin, plan, client, tls, nodes, start } = testCluster(scope, "itng", "172.25.13.0/24");
    let stack: Stack;
    let backend: string;
    let timeoutMs = 60_000;
    const log: string[] = [];
    const onOutput = (s: string) => { log.push(s); };

    beforeAll(async () => {
        start();
        backend = path.join(scope.dir, "state");
        stack = await inlineStack("rst-engine-test", "engine", backend, async () => {
            const b = new ClusterBootstrap("itng", { clusterName: "itng", nodes, auth: pulumi.secret(admin), tls: pulumi.secret(tls), timeoutMs });
            return { nodeIds: b.nodeIds };
        });
    });
    afterAll(() => scope.cleanup());

    test("up from empty bootstraps a healthy cluster", async () => {
        const r = await stack.up({ onOutput });
        expect(r.summary.result).toBe("succeeded");
        expect(Object.keys(r.outputs.nodeIds.value)).toHaveLength(6);
        for (const n of plan) {
            await wire.withClient({ host: n.ip, port: n.port }, { auth: admin, tls }, async c => {
                expect((await wire.clusterInfo(c)).cluster_state).toBe("ok");
                if (n.role === "replica") expect((await wire.info(c, "replication")).master_link_status).toBe("up");
            });
        }
    });

    test("a second preview shows no changes (no perpetual diff, no ~__provider)", async () => {
        const p = await stack.preview({ expectNoChanges: true, diff: true });
        expect(p.changeSummary.update ?? 0).toBe(0);
        expect(p.stdout).not.toContain("__provider");
        log.push(p.stdout, p.stderr);
    });

    test("a changed input updates only the bootstrap and the cluster keeps its data", async () => {
        await wire.withClient({ host: plan[0].ip, port: plan[0].port }, { auth: admin, tls }, c => c.set("{engine}kept", "yes"));
        timeoutMs = 90_000;
        const r = await stack.up({ onOutput });
        expect(r.summary.resourceChanges).toMatchObject({ update: 1 });
        expect(r.summary.resourceChanges?.create ?? 0).toBe(0);
        expect(r.summary.resourceChanges?.delete ?? 0).toBe(0);
        const owner = plan.filter(n => n.role === "master");
        const values = await Promise.all(owner.map(n => wire.withClient({ host: n.ip, port: n.port }, { auth: admin, tls }, async c => {
            try { return await c.get("{engine}kept"); } catch { return null; }
        })));
        expect(values).toContain("yes");
    });

    test("the exported state holds no password or private key in plain text", async () => {
        // Automation's exportStack() decrypts secrets; read what is really stored: the backend's files, and
        // `pulumi stack export` as a user would run it.
        const stored = filesUnder(backend).map(f => fs.readFileSync(f, "utf8")).join("\n");
        const exported = execFileSync(path.join(toolchain().binDir, "pulumi"), ["stack", "export", "--stack", "engine", "--cwd", stack.workspace.workDir],
            { encoding: "utf8", env: { ...process.env, ...stack.workspace.envVars } });
        const keyLine = client.key.split("\n")[1];
        for (const text of [stored, exported]) {
            expect(text).toContain("4dabf18193072939515e22adb298388d"); // Pulumi's secret signature: values are encrypted
            expect(text).toContain("ciphertext");
            expect(text).not.toContain(pw.admin);
            expect(text).not.toContain(keyLine);
        }
        // Nor does anything the engine printed (up, a --diff preview) or any node's log.
        expect(log.join("")).toContain("ClusterBootstrap");
        expectNoSecrets(log.join("\n") + scope.logs(), { ...pw, clientKey: keyLine });
    });

    test("destroy succeeds and leaves the stack empty", async () => {
        const r = await stack.destroy({ onOutput });
        expect(r.summary.result).toBe("succeeded");
        const state = (await stack.exportStack()).deployment;
        expect(state.resources ?? []).toHaveLength(0);
    });
});


function filesUnder(dir: string): string[] {
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap(e =>
        e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]);
}
