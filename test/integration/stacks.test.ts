// The project's own Pulumi.yaml, program and stacks/ on the real engine with the real tls/random/docker plugins, driven
// both ways users drive it: the Automation API (in-process program, as `npm run up` does) and the plain `pulumi` CLI
// (the Node language host runs index.ts, as `pulumi up` in a checkout does). Up from empty, outputs that connect, no
// perpetual diff, a config change previewed with its diff and applied replacing only the Redis containers, a node
// stopped by hand healed by a plain `pulumi up`, no secret in the stored state, destroy leaving nothing behind.
// The stack's resources are named `*-itstack-*` (scripts/clean-test-leftovers.sh removes them after a killed run).
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { EngineEvent } from "@pulumi/pulumi/automation";
import { openStack, projectCopy, stackEnv, toolchain } from "../../scripts/workspace";
import * as wire from "../../components/redis/wire";
import { KEY_FILE } from "../../components/spiped/plan";
import { MASTERAUTH_FILE, TLS_DIR } from "../../components/redis/conf";
import { docker, pemBody, Scope } from "./harness";
import { plainOutputs } from "./deploy";

jest.setTimeout(900_000);

/** The plain CLI in the project copy, offline like `. scripts/env.sh`; rejects with everything it printed. */
function cli(workDir: string, backend: string, ...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile(
            path.join(toolchain().binDir, "pulumi"),
            [...args, "--stack", "itstack", "--non-interactive", "--color", "never"],
            { cwd: workDir, env: { ...process.env, ...stackEnv(backend) }, timeout: 600_000, maxBuffer: 64 << 20 },
            (e, stdout, stderr) =>
                e
                    ? reject(new Error(`pulumi ${args.join(" ")} failed (${e.code}):\n${stdout}\n${stderr}`))
                    : resolve(`${stdout}\n${stderr}`),
        );
    });
}

describe("the project's stack on the real engine and plugins", () => {
    const scope = new Scope();
    const backend = path.join(scope.dir, "state");
    const workDir = projectCopy(scope.dir);
    let stack: Awaited<ReturnType<typeof openStack>>;
    let out: Record<string, any>;
    const clusterTls = () => ({ ca: out.cluster.caCertPem, cert: out.cluster.clientCertPem, key: out.cluster.clientKeyPem });
    const onNode = <T>(n: { ip: string; port: number }, f: (c: Awaited<ReturnType<typeof wire.connect>>) => Promise<T>) =>
        wire.withClient({ host: n.ip, port: n.port }, { auth: out.cluster.adminUser, tls: clusterTls() }, f);

    beforeAll(async () => {
        stack = await openStack("itstack", backend, workDir);
        await stack.setAllConfig({
            "redis-secure-topologies:chainSubnet": { value: "172.25.40.0/24" },
            "redis-secure-topologies:clusterSubnet": { value: "172.25.41.0/24" },
            "redis-secure-topologies:tunnelSubnet": { value: "172.25.42.0/24" },
            "redis-secure-topologies:tunnelListenPort": { value: "16390" },
            "redis-secure-topologies:maxmemory": { value: "64mb" },
            // One engine here: the default "hard" anti-affinity refuses a master and its replica on one host.
            "redis-secure-topologies:clusterAntiAffinity": { value: "soft" },
        });
    });
    afterAll(async () => {
        await stack.destroy().catch(() => undefined);
        scope.cleanup();
    });

    test("up from empty; the chain, the tunnel and the cluster answer through the outputs", async () => {
        const r = await stack.up();
        out = plainOutputs(r.outputs);
        const app = out.chain.appUser;
        const [a, , c] = out.chain.nodes;
        await wire.withClient({ host: a.ip, port: a.plainPort }, { auth: app }, cl => cl.set("stack:k", "v"));
        await wire.withClient({ host: c.ip, port: c.tlsPort }, { auth: app, tls: { ca: out.chain.caCertPem } }, cl =>
            wire.waitUntil("C to replicate", async () => (await cl.get("stack:k")) === "v", 30_000),
        );
        await wire.withClient({ host: out.tunnel.host, port: out.tunnel.port }, { auth: app }, async cl =>
            expect(await cl.get("stack:k")).toBe("v"),
        );
        expect(out.cluster.nodes).toHaveLength(6);
        for (const n of out.cluster.nodes) {
            await onNode(n, async cl => {
                expect((await wire.clusterInfo(cl)).cluster_state).toBe("ok");
                const repl = await wire.info(cl, "replication");
                expect(repl.role).toBe(n.role === "master" ? "master" : "slave");
                if (n.role === "replica") expect(repl.master_link_status).toBe("up");
            });
        }
    });

    test("plain CLI: a no-change preview passes --expect-no-changes, with no Node deprecation warning", async () => {
        const printed = await cli(workDir, backend, "preview", "--expect-no-changes");
        expect(printed).not.toMatch(/DEP0128|DeprecationWarning/);
        expect(printed).toMatch(/\d+ unchanged/);
    });

    test("plain CLI: `preview --diff` of a maxmemory change shows it, and up replaces only the Redis containers (and their file writers), keeping data", async () => {
        const m0 = out.cluster.nodes[0];
        // A key in m0's own slots, so a single-node client reads it back without a redirect.
        let key = "";
        await onNode(m0, async cl => {
            for (let i = 0; !key && i < 1000; i++)
                if (Number(await cl.call("CLUSTER", "KEYSLOT", `kept:${i}`)) <= m0.slots[1]) key = `kept:${i}`;
            await cl.set(key, "yes");
            expect(await cl.call("WAIT", "1", "2000")).toBe(1);
        });
        await stack.setConfig("redis-secure-topologies:maxmemory", { value: "96mb" });
        const diff = await cli(workDir, backend, "preview", "--diff");
        expect(diff).toMatch(/maxmemory 96mb/);
        expect(diff).toMatch(/\+-\s*docker:index\/container:Container/);

        const replaced = new Set<string>();
        const onEvent = (e: EngineEvent) => {
            const m = e.resourcePreEvent?.metadata;
            if (m && (m.op === "replace" || m.op === "create-replacement")) replaced.add(m.urn.split("::").pop()!);
        };
        const r = await stack.up({ onEvent });
        expect(r.summary.resourceChanges?.create ?? 0).toBe(0);
        expect(r.summary.resourceChanges?.delete ?? 0).toBe(0);
        const redisContainers = [
            ...out.chain.nodes.map((n: { name: string }) => n.name),
            ...out.cluster.nodes.map((n: { name: string }) => n.name),
        ];
        expect([...replaced].sort()).toEqual(redisContainers.flatMap(n => [n, `${n}-files`]).sort()); // each with its file writer
        await onNode(m0, async cl => {
            await wire.waitUntil("the cluster to re-form", async () => (await wire.clusterInfo(cl)).cluster_state === "ok", 60_000);
            expect(await cl.call("CONFIG", "GET", "maxmemory")).toEqual(["maxmemory", String(96 * 1024 * 1024)]);
            expect(await cl.get(key)).toBe("yes");
        });
    });

    test("plain CLI: a master stopped by hand is back, in its planned role, after a plain `pulumi up`", async () => {
        const m1 = out.cluster.nodes.find((n: { name: string }) => n.name.endsWith("-m1"));
        docker("stop", m1.name);
        await cli(workDir, backend, "up", "--yes", "--skip-preview");
        expect(docker("inspect", "-f", "{{.State.Running}}", m1.name)).toBe("true");
        for (const n of out.cluster.nodes) {
            await wire.waitUntil(
                `${n.name} in its planned role`,
                () =>
                    onNode(
                        n,
                        async cl =>
                            (await wire.clusterInfo(cl)).cluster_state === "ok" &&
                            (await wire.info(cl, "replication")).role === (n.role === "master" ? "master" : "slave"),
                    ),
                30_000,
                200,
            );
        }
        await stack.preview({ expectNoChanges: true });
    });

    test("the stored state holds no secret in plain text: passwords, the spiped key, node and CA private keys", async () => {
        // Everything the state marks secret, decrypted with the passphrase.
        const exported = JSON.parse(
            await cli(workDir, backend, "stack", "export", "--show-secrets").then(s => s.slice(s.indexOf("{"), s.lastIndexOf("}") + 1)),
        );
        const secrets: string[] = [];
        const walk = (x: unknown): void => {
            if (Array.isArray(x)) x.forEach(walk);
            else if (x && typeof x === "object") {
                const o = x as Record<string, unknown>;
                if (o["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270") secrets.push(String(o.plaintext));
                else Object.values(o).forEach(walk);
            }
        };
        walk(exported);
        const secretText = secrets.join("\n");
        const node = out.cluster.nodes[0].name;
        const expected: Record<string, string> = {
            "app password": out.chain.appUser.password,
            "admin password": out.cluster.adminUser.password,
            "replication password": docker("exec", node, "sed", "-n", "s/^masterauth //p", MASTERAUTH_FILE),
            "spiped key": docker("exec", `tunnel-itstack-server`, "base64", "-w0", KEY_FILE),
            "node private key": pemBody(docker("exec", node, "cat", `${TLS_DIR}/node.key`)),
            // The dev cluster has no mutual TLS, so no client certificate; the chain's is there.
            "client private key": pemBody(out.chain.clientKeyPem),
            "CA private key": pemBody(
                exported.deployment.resources.find((r: { urn: string }) => r.urn.endsWith("::cluster-itstack-ca-key")).outputs.privateKeyPem
                    .plaintext ?? "",
            ),
        };
        const files = (d: string): string[] =>
            fs
                .readdirSync(d, { withFileTypes: true })
                .flatMap(e => (e.isDirectory() ? files(path.join(d, e.name)) : [path.join(d, e.name)]));
        const stored = files(backend)
            .map(f => fs.readFileSync(f, "utf8"))
            .join("\n");
        for (const [what, value] of Object.entries(expected)) {
            expect({ what, length: value.length >= 16 }).toEqual({ what, length: true });
            expect({ what, markedSecret: secretText.includes(value) }).toEqual({ what, markedSecret: true });
            expect({ what, inState: stored.includes(value) }).toEqual({ what, inState: false });
        }
    });

    test("plain CLI: destroy leaves no container, network or volume behind", async () => {
        await cli(workDir, backend, "destroy", "--yes", "--skip-preview");
        const names = (kind: string) => docker(kind, "ls", "--format", "{{.Name}}").split("\n");
        expect(
            docker("ps", "-a", "--format", "{{.Names}}")
                .split("\n")
                .filter(n => n.includes("itstack")),
        ).toEqual([]);
        expect(names("network").filter(n => n.includes("itstack"))).toEqual([]);
        expect(names("volume").filter(n => n.includes("itstack"))).toEqual([]);
    });
});
