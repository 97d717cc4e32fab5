// The project's own Pulumi.yaml and program on the real Pulumi engine, with bad stack config: `pulumi up` stops
// before any resource exists, naming the stack config key and what is allowed. Runs without the tls/random/docker
// plugins, because nothing gets as far as needing them (the old program created the chain before checking the tunnel).
import { spawnSync } from "child_process";
import * as path from "path";
import { openStack, projectCopy } from "../../scripts/workspace";
import { Scope } from "./harness";

jest.setTimeout(180_000);

describe("stack config errors on the real engine", () => {
    const scope = new Scope();
    let stack: Awaited<ReturnType<typeof openStack>>;
    const KEY = "redis-secure-topologies";

    const backend = path.join(scope.dir, "state");
    const workDir = projectCopy(scope.dir);

    beforeAll(async () => {
        stack = await openStack("itcfg", backend, workDir);
    });
    afterAll(() => scope.cleanup());

    /** Runs `pulumi up` with `config` (path syntax) and returns its error output; fails if the update succeeds. */
    async function upFails(config: Record<string, string>): Promise<string> {
        await stack.removeAllConfig(Object.keys(await stack.getAllConfig()));
        for (const [key, value] of Object.entries(config)) await stack.setConfig(`${KEY}:${key}`, { value }, true);
        const r = spawnSync(
            "npx",
            ["--no-install", "ts-node", "--transpile-only", path.join(__dirname, "fixtures/stack-up.ts"), "itcfg", backend, workDir],
            { encoding: "utf8", cwd: path.join(__dirname, "../..") },
        );
        expect([r.status, r.stderr.includes("Error") ? r.stderr : ""]).toEqual([0, ""]);
        expect(r.stdout).not.toBe(""); // the update failed
        return r.stdout;
    }
    /** The resources the last update stored: only the stack itself when it stopped before creating anything. */
    const stored = async () => ((await stack.exportStack()).deployment.resources ?? []).map((r: { type: string }) => r.type);

    test.each<[string, Record<string, string>, string]>([
        [
            "a tunnel port out of range (checked before the chain exists)",
            { tunnelListenPort: "70000" },
            `stack config ${KEY}:tunnelListenPort must be an integer from 1 to 65535; got 70000`,
        ],
        [
            "a cluster subnet overlapping the chain's",
            { clusterSubnet: "172.31.0.0/16", clusterAntiAffinity: "soft" },
            `stack config ${KEY}:clusterSubnet must be a subnet that does not overlap chainSubnet (172.31.0.0/24); got "172.31.0.0/16"`,
        ],
        [
            "hard anti-affinity on the one local engine",
            {},
            `stack config ${KEY}:clusterHosts must be at least 2 hosts, so no master shares a host with its replica`,
        ],
        [
            "a host list from YAML objects with a bad engine address",
            {
                deployChain: "false",
                "clusterHosts[0].name": "a",
                "clusterHosts[0].dockerHost": "ssh://ops@redis-a",
                "clusterHosts[1].name": "b",
                "clusterHosts[1].dockerHost": "http://b:2375",
            },
            `stack config ${KEY}:clusterHosts[1].dockerHost must be a Docker engine address: unix:///path/docker.sock, tcp://host:port or ssh://[user@]host[:port]; got "http://b:2375"`,
        ],
        [
            "a host whose engine does not answer (asked before anything is created)",
            {
                deployChain: "false",
                "clusterHosts[0].name": "a",
                "clusterHosts[1].name": "b",
                "clusterHosts[1].dockerHost": "unix:///run/rst-no-engine.sock",
            },
            `stack config ${KEY}:clusterHosts[1].dockerHost must be a Docker engine that answers; host "b" at unix:///run/rst-no-engine.sock did not (connect ENOENT /run/rst-no-engine.sock). Check the address`,
        ],
    ])("%s: up stops naming the key; nothing is created", async (_, config, message) => {
        const error = await upFails(config);
        expect(error).toContain(message);
        expect(error).not.toMatch(/Unhandled exception|at checkSettings/); // the message alone, no stack trace
        expect(await stored()).toEqual(["pulumi:pulumi:Stack"]);
    });

    test("a value of the wrong type is refused by the CLI from Pulumi.yaml's schema", async () => {
        expect(await upFails({ clusterMasters: "three" })).toContain("configuration key 'clusterMasters' must be of type 'integer'");
    });

    test("valid config with nothing to deploy: up succeeds and the stack is empty", async () => {
        await stack.removeAllConfig(Object.keys(await stack.getAllConfig()));
        await stack.setAllConfig({ [`${KEY}:deployChain`]: { value: "false" }, [`${KEY}:deployCluster`]: { value: "false" } });
        const r = await stack.up();
        expect(r.summary.result).toBe("succeeded");
        expect(Object.values(r.outputs).filter(o => o.value !== undefined)).toEqual([]);
        expect(await stored()).toEqual(["pulumi:pulumi:Stack"]);
    });
});
