// Drift on the real engine (Automation API) and the real RedisCluster (components/cluster) with its ClusterBootstrap:
// a master fails over and comes back as a replica while the inputs stay the same. The bootstrap's diff sees it and a
// preview says so, `pulumi refresh` records it, a plain `pulumi up` repairs it (an update of the bootstrap alone that
// keeps the data), then no changes; the guard reads the stack's outputs; a preview that reaches no node shows no
// change. Throughout, the stored state (the backend's files and `pulumi stack export`) holds every secret encrypted,
// and neither the engine's output nor a node's log holds one. (These are also what engine.test.ts checked on a
// hand-built cluster.) How fast a diff gives up on nodes that do not answer is measured by the bench (bench/engine.ts).
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import * as path from "path";
import { clusterBootstrapProvider } from "../../components/cluster/bootstrap";
import { drift, readCluster } from "../../components/cluster/status";
import * as wire from "../../components/redis/wire";
import {
    DeployedCluster,
    localClusterStack,
    plainOutputs,
    pulumiCli,
    stackProcessEnv,
    stateOf,
    stateSecrets,
    storedState,
    tearDown,
} from "./deploy";
import { docker, expectNoSecrets, failOverAndBack, runCli, Scope } from "./harness";

jest.setTimeout(300_000);

const NAME = "itdr";
const SUBNET = "172.25.60.0/24";

describe("drift: the live cluster leaves its plan, the inputs stay the same", () => {
    const scope = new Scope();
    let stack: Stack | undefined;
    let c: DeployedCluster;
    const expected = [
        `${NAME}-m0 is replica of ${NAME}-m0-r0, planned master`,
        `${NAME}-m0-r0 is master of slots 0-5460, planned replica of ${NAME}-m0`,
    ];
    const log: string[] = [];
    const onOutput = (s: string) => {
        log.push(s);
    };
    /** What an operation changes, from its engine events: `<op> <resource name>`, every step but "same". */
    const changed = () => {
        const steps: string[] = [];
        return {
            steps,
            onEvent: (e: EngineEvent) => {
                const m = e.resourcePreEvent?.metadata;
                if (m && m.op !== "same") steps.push(`${m.op} ${m.urn.split("::").pop()}`);
            },
        };
    };
    const m0 = () => c.plan[0];
    const r0 = () => c.replicaOf(c.plan[0]);
    const roleOf = (n: { ip: string; port: number }) => c.on(n, async cl => (await wire.info(cl, "replication")).role);
    /** The component's ClusterBootstrap as the state holds it. */
    const bootstrap = () => stateOf(stack!, `${NAME}-bootstrap`);
    /** The bootstrap provider's diff as the engine calls it with unchanged inputs: the state's outputs against its inputs. */
    const diffNow = async () => {
        const b = await bootstrap();
        return clusterBootstrapProvider.diff!(b.id, b.outputs, b.inputs);
    };
    const failOver = () => failOverAndBack(m0(), r0(), { auth: c.target.auth, tls: c.target.tls });
    /** Every secret of the state is ciphertext in the backend's files and in `pulumi stack export`, as a user runs it. */
    const expectStateEncrypted = async () => {
        const secrets = await stateSecrets(stack!);
        // What is there to find: the four generated passwords (admin, app, replication, metrics) and the CA's and the
        // 6 nodes' private keys (no client key: the default cluster issues none).
        expect(Object.keys(secrets).filter(k => k.endsWith(".result"))).toHaveLength(4);
        expect(
            Object.keys(secrets)
                .filter(k => k.endsWith("-key.privateKeyPem"))
                .sort(),
        ).toEqual(["itdr-ca", ...c.plan.map(n => `${n.name}-tls`)].map(k => `${k}-key.privateKeyPem`).sort());
        for (const text of [storedState(scope), await pulumiCli(stack!, "stack", "export")]) {
            expect(text).toContain("4dabf18193072939515e22adb298388d"); // Pulumi's secret signature: values are encrypted
            expect(text).toContain("ciphertext");
            expectNoSecrets(text, secrets);
        }
    };

    beforeAll(async () => {
        // diff() called in-process prints its findings (for the engine's output): keep them out of the test log.
        jest.spyOn(console, "error").mockImplementation(() => undefined);
        stack = await localClusterStack(scope, NAME, SUBNET);
    });
    afterAll(async () => {
        jest.restoreAllMocks();
        await tearDown(scope, stack);
    }, 120_000);

    test("up bootstraps the component's cluster, records no drift, and a --diff preview shows no changes (no ~__provider)", async () => {
        const r = await stack!.up({ onOutput });
        log.push(r.stderr);
        expect(r.summary.result).toBe("succeeded");
        const out = plainOutputs(r.outputs);
        c = new DeployedCluster(out, NAME);
        expect(out[NAME].drift).toEqual([]);
        await c.expectPlannedRoles();
        const p = await stack!.preview({ expectNoChanges: true, diff: true });
        expect(p.changeSummary.update ?? 0).toBe(0);
        expect(p.stdout).not.toContain("__provider");
        log.push(p.stdout, p.stderr);
    });

    test("a master that failed over and came back is drift, and the bootstrap's diff asks for an update", async () => {
        expect(await diffNow()).toMatchObject({ changes: false });
        await failOver();
        // Gossip settles in a moment (the others clear their FAIL flag for the returned node).
        await wire.waitUntil(
            "the drift to be exactly the swapped roles",
            async () => {
                const found = drift(c.target.nodes, await readCluster(c.target));
                return JSON.stringify(found) === JSON.stringify(expected) || found.join("; ");
            },
            20_000,
            200,
        );
        expect(await diffNow()).toMatchObject({ changes: true, replaces: [] });
    });

    test("a preview with unchanged inputs shows an update of the bootstrap alone and says why", async () => {
        const steps = changed();
        const p = await stack!.preview({ diff: true, onEvent: steps.onEvent });
        expect(p.changeSummary).toEqual({ same: expect.any(Number), update: 1 });
        expect(steps.steps).toEqual([`update ${NAME}-bootstrap`]);
        // The dynamic provider protocol carries no detailed diff: the findings come as the provider's stderr.
        for (const f of expected) expect(p.stderr).toContain(`${NAME}: drift: ${f}`);
        log.push(p.stdout, p.stderr);
    });

    test("refresh records the drift in the state", async () => {
        expect((await bootstrap()).outputs.drift).toEqual([]);
        const r = await stack!.refresh({ onOutput });
        log.push(r.stderr);
        expect(r.summary.result).toBe("succeeded");
        expect((await bootstrap()).outputs.drift).toEqual(expected);
        expect(await roleOf(m0())).toBe("slave"); // refresh only reads
        expect(storedState(scope)).toContain(`${NAME}-m0-r0 is master of slots 0-5460`);
    });

    test("up with unchanged inputs repairs: only the bootstrap updates, planned roles back, data kept, no drift recorded, then no changes", async () => {
        await c.withApp(async app => {
            for (let i = 0; i < 50; i++) await app.set(`kept:${i}`, String(i));
        });
        const steps = changed();
        const r = await stack!.up({ onOutput, onEvent: steps.onEvent });
        log.push(r.stderr);
        expect(r.summary.resourceChanges).toEqual({ same: expect.any(Number), update: 1 });
        expect(steps.steps).toEqual([`update ${NAME}-bootstrap`]);
        await c.expectPlannedRoles();
        expect(await roleOf(m0())).toBe("master");
        expect(plainOutputs(r.outputs)[NAME].drift).toEqual([]);
        expect((await bootstrap()).outputs.drift).toEqual([]);
        await c.withApp(async app => {
            for (let i = 0; i < 50; i++) expect(await app.get(`kept:${i}`)).toBe(String(i));
        });
        await stack!.preview({ expectNoChanges: true });
        // Neither anything the engine printed (up, refresh, a --diff preview) nor any node's log holds a secret.
        expect(log.join("")).toContain("ClusterBootstrap");
        // The update's actions, which the provider prints on its stderr: the engine shows them with the update.
        expect(r.stdout + r.stderr).toContain(`${NAME}: ${NAME}-m0: CLUSTER FAILOVER (back to master)`);
        const logs = scope.logs();
        expect(logs).toMatch(/Cluster state changed: ok/); // the logs were read
        expectNoSecrets(log.join("\n") + logs, await stateSecrets(stack!));
    });

    test("the stored state (the backend's files, `pulumi stack export`) holds every secret encrypted, after up, refresh and update", async () => {
        await expectStateEncrypted();
    });

    test("guard --stack reads the stack's outputs (secrets included), prints the table and has nothing to do", async () => {
        const { code, out } = await runCli(
            ["guard", "--stack", NAME, "--output", NAME, "--cwd", stack!.workspace.workDir, "--once"],
            stackProcessEnv(stack!),
        );
        expect(out).toMatch(/node\s+planned\s+live\s+master\s+link\s+slots\s+state/);
        expect(out).toMatch(new RegExp(`${NAME}-m0\\s+master\\s+master\\s+-\\s+-\\s+0-5460\\s+ok`));
        expect(out).toContain("ok: the cluster matches the plan; no action");
        expectNoSecrets(out, await stateSecrets(stack!));
        expect(code).toBe(0);
        // The lease lives beside the file backend.
        expect(out).toContain(`lease ${path.join(scope.dir, "state", `guard-${NAME}.lease`)}`);
    });

    test("nodes that do not answer are unknown, not drift: the diff gives up and a preview shows no changes", async () => {
        await failOver();
        await wire.waitUntil("diff to see the drift", async () => (await diffNow()).changes === true, 20_000, 200);
        const props = await bootstrap();
        docker("pause", ...c.plan.map(n => n.name));
        try {
            expect(await clusterBootstrapProvider.diff!(props.id, props.outputs, props.inputs)).toMatchObject({ changes: false });
            await stack!.preview({ expectNoChanges: true });
        } finally {
            docker("unpause", ...c.plan.map(n => n.name));
        }
        // Reachable again, the drift shows again.
        await wire.waitUntil("diff to see the drift again", async () => (await diffNow()).changes === true, 20_000, 200);
    });

    test("destroy succeeds and leaves neither state nor a container, network or volume", async () => {
        const r = await stack!.destroy({ onOutput });
        expect(r.summary.result).toBe("succeeded");
        expect((await stack!.exportStack()).deployment.resources ?? []).toHaveLength(0);
        for (const kind of [
            ["ps", "-a"],
            ["network", "ls"],
            ["volume", "ls"],
        ]) {
            expect([kind[0], docker(...kind, "-q", "--filter", `label=${scope.label}`)]).toEqual([kind[0], ""]);
        }
    });
});
