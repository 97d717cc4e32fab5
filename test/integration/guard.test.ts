// `redis-secure-topologies guard` as a child process (the way an operator runs it) against 6 real TLS-only, mTLS
// nodes: the status table, a failed-over master reported by a guard without the lease, then healed by exactly one
// of two guards run at once, a second run with nothing to do, and a looping guard that holds the lease meanwhile,
// stops on SIGTERM and gives it back.
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as lockfile from "proper-lockfile";
import { converge } from "../../components/cluster/converge";
import * as wire from "../../components/redis/wire";
import { failOverAndBack, runCli, Scope, testCluster } from "./harness";

jest.setTimeout(240_000);

describe("guard --once on 6 real redis-server containers", () => {
    const scope = new Scope();
    const { pw, admin, plan, client, tls, nodes, start } = testCluster(scope, "itgd", "172.25.61.0/24");
    const [m0, r0] = [plan[0], plan.find(n => n.masterName === plan[0].name)!];
    const outputs = path.join(scope.dir, "outputs.json");
    const lease = path.join(scope.dir, "guard.lease");
    const guardOnce = () => runCli(["guard", "--outputs", outputs, "--once", "--lease", lease]);
    const roleOf = (n: typeof m0) => wire.withClient({ host: n.ip, port: n.port }, { auth: admin, tls }, async c => (await wire.info(c, "replication")).role);
    const noSecrets = (out: string) => {
        expect(out).not.toContain(pw.admin);
        expect(out).not.toContain(client.key.split("\n")[1]);
    };

    beforeAll(async () => {
        start();
        await converge({ nodes, auth: admin, tls });
        // As `pulumi stack output --json --show-secrets` prints program.ts's outputs.
        fs.writeFileSync(outputs, JSON.stringify({
            cluster: { nodes: plan, tls: true, caCertPem: tls.ca, clientCertPem: tls.cert, clientKeyPem: tls.key, adminUser: admin },
        }), { mode: 0o600 });
    });
    afterAll(() => scope.cleanup());

    test("a healthy cluster: the status table, no drift, no action, exit 0", async () => {
        const { code, out } = await guardOnce();
        expect(out).toMatch(/node\s+planned\s+live\s+master\s+link\s+slots\s+state/);
        expect(out).toMatch(/itgd-m0\s+master\s+master\s+-\s+-\s+0-5460\s+ok/);
        expect(out).toMatch(/itgd-m0-r0\s+replica of itgd-m0\s+replica\s+itgd-m0\s+up\s+-\s+ok/);
        expect(out).toContain("ok: the cluster matches the plan; no action");
        expect(out).not.toContain("action:");
        expect(code).toBe(0);
    });

    test("after a failover, a guard without the lease only reports: the table, the drift, no action, exit 1", async () => {
        await failOverAndBack(m0, r0, { auth: admin, tls });
        // Another guard holds the lease (the same lock the guards take).
        const release = await lockfile.lock(lease, { realpath: false, lockfilePath: lease });
        try {
            const { code, out } = await guardOnce();
            expect(out).toContain("lease: held by another guard; this guard only reports");
            expect(out).toMatch(/itgd-m0\s+master\s+replica\s+itgd-m0-r0\s+up\s+-\s+ok/);
            expect(out).toMatch(/itgd-m0-r0\s+replica of itgd-m0\s+master\s+-\s+-\s+0-5460\s+ok/);
            expect(out).toContain("  - itgd-m0 is replica of itgd-m0-r0, planned master");
            expect(out).toContain("reporting only: another guard holds the lease; no action");
            expect(out).not.toContain("action:");
            expect(code).toBe(1);
            expect(await roleOf(m0)).toBe("slave");
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
        expect(h.out).toContain("  - itgd-m0 is replica of itgd-m0-r0, planned master");
        expect(h.out).toContain("healing: converging to the plan");
        expect(h.out).toContain("action: itgd-m0: CLUSTER FAILOVER (back to master)");
        expect(h.out).toContain("ok: the cluster matches the plan again");
        expect(h.code).toBe(0);
        // The other either ran while the lease was taken (reported) or after (found nothing to do).
        expect(runs.find(r => r !== h)!.out).not.toContain("healing:");
        for (const r of runs) noSecrets(r.out);
        expect(await roleOf(m0)).toBe("master");
        expect(await roleOf(r0)).toBe("slave");
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
        const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", "components/guard/cli.ts",
            "guard", "--outputs", outputs, "--interval", "1", "--lease", lease], { cwd: repo });
        let out = "";
        child.stdout.on("data", d => { out += d; });
        child.stderr.on("data", d => { out += d; });
        const exited = new Promise<number | null>(r => child.on("exit", code => r(code)));
        await wire.waitUntil("two passes", async () => (out.match(/reading 6 nodes/g) ?? []).length >= 2, 30_000, 100);
        expect(fs.existsSync(lease)).toBe(true);
        // Meanwhile another guard only reports.
        const other = await guardOnce();
        expect(other.out).toContain("lease: held by another guard; this guard only reports");
        child.kill("SIGTERM");
        expect(await exited).toBe(0);
        expect(fs.existsSync(lease)).toBe(false);
    });
});
