// `redis-secure-topologies guard` (components/guard/cli.ts) as a child process, the way an operator runs it, against
// the real RedisCluster (components/cluster) deployed through the engine: its outputs saved with
// `pulumi stack output --json --show-secrets` to a 0600 file and handed over with `--outputs`. The status table, a
// failed-over master reported by a guard without the lease, then healed by exactly one of two guards run at once, a
// second run with nothing to do, and a looping guard that holds the lease meanwhile, stops on SIGTERM and gives it back.
import type { Stack } from "@pulumi/pulumi/automation";
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as lockfile from "proper-lockfile";
import * as wire from "../../components/redis/wire";
import { DeployedCluster, localClusterStack, plainOutputs, pulumiCli, stateSecrets, tearDown } from "./deploy";
import { expectNoSecrets, failOverAndBack, runCli, Scope } from "./harness";

jest.setTimeout(300_000);

const NAME = "itgd";
const SUBNET = "172.25.61.0/24";

describe("guard --outputs on the RedisCluster the engine deployed", () => {
    const scope = new Scope();
    let stack: Stack | undefined;
    let c: DeployedCluster;
    let secrets: Record<string, string>;
    const outputs = path.join(scope.dir, "outputs.json");
    // Without --lease, guards given the same outputs file meet beside it.
    const lease = `${outputs}.guard-lease`;
    // The stack exports the cluster under its name (a program would call it `cluster`, the default of --output).
    const guardArgs = ["guard", "--outputs", outputs, "--output", NAME];
    const guardOnce = () => runCli([...guardArgs, "--once"]);
    const m0 = () => c.plan[0];
    const r0 = () => c.replicaOf(c.plan[0]);
    const roleOf = (n: { ip: string; port: number }) => c.on(n, async cl => (await wire.info(cl, "replication")).role);

    beforeAll(async () => {
        stack = await localClusterStack(scope, NAME, SUBNET);
        c = new DeployedCluster(plainOutputs((await stack.up()).outputs), NAME);
        // As the README tells users to: `pulumi stack output --json --show-secrets > outputs.json`, kept 0600.
        fs.writeFileSync(outputs, await pulumiCli(stack, "stack", "output", "--json", "--show-secrets"), { mode: 0o600 });
        secrets = await stateSecrets(stack);
    });
    afterAll(() => tearDown(scope, stack), 120_000);

    test("a healthy cluster: the status table, no drift, no action, exit 0", async () => {
        // The file holds the secrets in plain text (the guard needs them): hence 0600.
        expect(fs.statSync(outputs).mode & 0o777).toBe(0o600);
        expect(JSON.parse(fs.readFileSync(outputs, "utf8"))[NAME].adminUser.password).toBe(c.target.auth.password);
        const { code, out } = await guardOnce();
        expect(out).toContain(`guard: 6 nodes, lease ${lease}`);
        expect(out).toMatch(/node\s+planned\s+live\s+master\s+link\s+slots\s+state/);
        expect(out).toMatch(new RegExp(`${NAME}-m0\\s+master\\s+master\\s+-\\s+-\\s+0-5460\\s+ok`));
        expect(out).toMatch(new RegExp(`${NAME}-m0-r0\\s+replica of ${NAME}-m0\\s+replica\\s+${NAME}-m0\\s+up\\s+-\\s+ok`));
        expect(out).toContain("ok: the cluster matches the plan; no action");
        expect(out).not.toContain("action:");
        expectNoSecrets(out, secrets);
        expect(code).toBe(0);
    });

    test("after a failover, a guard without the lease only reports: the table, the drift, no action, exit 1", async () => {
        await failOverAndBack(m0(), r0(), { auth: c.target.auth, tls: c.target.tls });
        // Another guard holds the lease (the same lock the guards take).
        const release = await lockfile.lock(lease, { realpath: false, lockfilePath: lease });
        try {
            const { code, out } = await guardOnce();
            expect(out).toContain("lease: held by another guard; this guard only reports");
            expect(out).toMatch(new RegExp(`${NAME}-m0\\s+master\\s+replica\\s+${NAME}-m0-r0\\s+up\\s+-\\s+ok`));
            expect(out).toMatch(new RegExp(`${NAME}-m0-r0\\s+replica of ${NAME}-m0\\s+master\\s+-\\s+-\\s+0-5460\\s+ok`));
            expect(out).toContain(`  - ${NAME}-m0 is replica of ${NAME}-m0-r0, planned master`);
            expect(out).toContain("reporting only: another guard holds the lease; no action");
            expect(out).not.toContain("action:");
            expect(code).toBe(1);
            expect(await roleOf(m0())).toBe("slave");
        } finally {
            await release();
        }
    });

    test("two guards at once: exactly one heals", async () => {
        const runs = await Promise.all([guardOnce(), guardOnce()]);
        const healers = runs.filter(r => r.out.includes("action:"));
        expect(healers).toHaveLength(1);
        const h = healers[0];
        expect(h.out).toContain("lease: taken; this guard heals");
        expect(h.out).toContain(`  - ${NAME}-m0 is replica of ${NAME}-m0-r0, planned master`);
        expect(h.out).toContain("healing: converging to the plan");
        expect(h.out).toContain(`action: ${NAME}-m0: CLUSTER FAILOVER (back to master)`);
        expect(h.out).toContain("ok: the cluster matches the plan again");
        expect(h.code).toBe(0);
        // The other either ran while the lease was taken (reported) or after (found nothing to do).
        expect(runs.find(r => r !== h)!.out).not.toContain("healing:");
        for (const r of runs) expectNoSecrets(r.out, secrets);
        await c.expectPlannedRoles();
        expect(fs.existsSync(lease)).toBe(false); // given back
    });

    test("a second run finds nothing to do", async () => {
        const { code, out } = await guardOnce();
        expect(out).toContain("ok: the cluster matches the plan; no action");
        expect(out).not.toContain("action:");
        expect(code).toBe(0);
    });

    test("looping, it passes every --interval, holds the lease meanwhile, and gives it back on SIGTERM", async () => {
        const repo = path.resolve(__dirname, "../..");
        const child = spawn(
            process.execPath,
            ["-r", "ts-node/register/transpile-only", "components/guard/cli.ts", ...guardArgs, "--interval", "1"],
            { cwd: repo },
        );
        let out = "";
        child.stdout.on("data", d => {
            out += d;
        });
        child.stderr.on("data", d => {
            out += d;
        });
        const exited = new Promise<number | null>(r => child.on("exit", code => r(code)));
        try {
            await wire.waitUntil("two passes", async () => (out.match(/reading 6 nodes/g) ?? []).length >= 2, 30_000, 100);
            expect(fs.existsSync(lease)).toBe(true);
            // Meanwhile another guard only reports.
            const other = await guardOnce();
            expect(other.out).toContain("lease: held by another guard; this guard only reports");
        } finally {
            child.kill("SIGTERM");
        }
        expect(await exited).toBe(0);
        expect(fs.existsSync(lease)).toBe(false);
        expectNoSecrets(out, secrets);
    });
});
