// Deploys the real components through the real engine and plugins for integration tests: an inline program per
// stack (Automation API), a file backend in the test's Scope, and every Docker container, network and volume the
// components create labelled with the Scope's label, so Scope.cleanup() and scripts/clean-test-leftovers.sh remove
// what a killed run left behind.
import * as pulumi from "@pulumi/pulumi";
import { DiagnosticEvent, PulumiFn, Stack } from "@pulumi/pulumi/automation";
import { execFile, spawnSync } from "child_process";
import * as fs from "fs";
import type { Cluster } from "ioredis";
import * as path from "path";
import { ClientOptions, connect, Credentials } from "../../components/client";
import { clusterOutputs, PlannedNode, RedisCluster, RedisClusterArgs } from "../../components/cluster";
import { GuardTarget, targetFromOutputs } from "../../components/guard";
import { TLS_DIR } from "../../components/redis/conf";
import * as wire from "../../components/redis/wire";
import type { TlsMaterial } from "../../components/redis/wire";
import { inlineStack, toolchain } from "../../scripts/workspace";
import { dockerOn, onEngine, pemBody, Scope } from "./harness";

const DOCKER_LABELLED = new Set(["docker:index/container:Container", "docker:index/network:Network", "docker:index/volume:Volume"]);

/**
 * Adds the scope's label to every Docker container, network and volume of the program. A stack transformation, not
 * registerResourceTransform: measured here (SDK 3.259.0), the latter hands props through the engine and back, and a
 * secret nested in a list (a container's uploads: redis.conf, users.acl, node.key) came back plain, so the state held
 * it in clear text. The in-process transformation sees the program's own Outputs, secrets intact.
 */
export function labelDockerResources(scope: Scope): void {
    const [label, value] = scope.label.split("=");
    pulumi.runtime.registerStackTransformation(a => {
        if (!DOCKER_LABELLED.has(a.type)) return undefined;
        const labels = [...((a.props.labels as unknown[] | undefined) ?? []), { label, value }];
        return { props: { ...a.props, labels }, opts: a.opts };
    });
}

/** A stack of a throwaway project running `program`, its Docker resources labelled for `scope`. */
export function testStack(scope: Scope, stackName: string, program: PulumiFn): Promise<Stack> {
    return inlineStack(`rst-it-${stackName}`, stackName, path.join(scope.dir, "state"), async () => {
        labelDockerResources(scope);
        return program();
    });
}

/**
 * A suite's afterAll: its hand-built containers first (they may sit on a component's network, which could not be
 * deleted while they do), then the stack, then the scope, even when destroy fails.
 */
export async function tearDown(scope: Scope, stack: Stack | undefined, handBuilt: string[] = []): Promise<void> {
    try {
        if (handBuilt.length) scope.docker("rm", "-f", "-v", ...handBuilt);
        await stack?.destroy();
    } finally {
        scope.cleanup();
    }
}

/** The plain values of an update's outputs (secrets decrypted, as the Automation API returns them). */
export function plainOutputs(outputs: Record<string, { value: unknown }>): Record<string, any> {
    return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value]));
}

const SECRET_SIG = ["4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"] as const;

/** `x` from exportStack() (which decrypts) with each secret `{ <sig>, plaintext }` replaced by its value. */
function revealed(x: unknown): unknown {
    if (Array.isArray(x)) return x.map(revealed);
    if (!x || typeof x !== "object") return x;
    const o = x as Record<string, unknown>;
    // The plaintext is the value's JSON.
    if (o[SECRET_SIG[0]] === SECRET_SIG[1]) return JSON.parse(String(o.plaintext));
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, revealed(v)]));
}

/**
 * Every string value the stack's state marks secret (generated passwords, spiped keys, private keys, secret
 * outputs), decrypted, named `<resource>.<property>`; a PEM by its first line of key material (what a leak shows).
 * For expectNoSecrets: what the components made, not what a test thinks they made.
 */
export async function stateSecrets(stack: Stack): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const walk = (x: unknown, at: string): void => {
        if (Array.isArray(x)) return x.forEach((y, i) => walk(y, `${at}[${i}]`));
        if (!x || typeof x !== "object") return;
        const o = x as Record<string, unknown>;
        if (o[SECRET_SIG[0]] === SECRET_SIG[1]) {
            const value = revealed(o);
            if (typeof value === "string") out[at] = value.startsWith("-----BEGIN") ? pemBody(value) : value;
            return;
        }
        for (const [k, v] of Object.entries(o)) walk(v, at ? `${at}.${k}` : k);
    };
    for (const r of (await stack.exportStack()).deployment.resources ?? []) walk(r.outputs, String(r.urn).split("::").pop()!);
    return out;
}

/** One resource of the stack's state by its name, secrets decrypted: the id, inputs and outputs the engine hands its provider. */
export async function stateOf(stack: Stack, name: string): Promise<{ type: string; id: string; inputs: any; outputs: any }> {
    const r = ((await stack.exportStack()).deployment.resources ?? []).find((x: { urn: string }) => String(x.urn).endsWith(`::${name}`));
    if (!r) throw new Error(`no resource ${name} in the state of stack ${stack.name}`);
    return { type: r.type, id: r.id, inputs: revealed(r.inputs), outputs: revealed(r.outputs) };
}

/** Everything the stack's file backend (testStack's, in the scope) holds, as stored: secrets should be ciphertext there. */
export function storedState(scope: Scope): string {
    const filesUnder = (dir: string): string[] =>
        fs
            .readdirSync(dir, { withFileTypes: true })
            .flatMap(e => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    return filesUnder(path.join(scope.dir, "state"))
        .map(f => fs.readFileSync(f, "utf8"))
        .join("\n");
}

/** The environment a separate process needs to use the stack as an operator would: its backend, passphrase, the CLI on PATH. */
export function stackProcessEnv(stack: Stack): Record<string, string> {
    return { ...stack.workspace.envVars, PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true" };
}

/** The plain `pulumi` CLI (the one scripts/toolchain.sh built) on the stack, e.g. `pulumiCli(stack, "stack", "export")`: its stdout. */
export function pulumiCli(stack: Stack, ...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile(
            path.join(toolchain().binDir, "pulumi"),
            [...args, "--stack", stack.name, "--cwd", stack.workspace.workDir],
            { encoding: "utf8", env: { ...process.env, ...stackProcessEnv(stack) }, maxBuffer: 64 << 20, timeout: 120_000 },
            (e, stdout, stderr) => (e ? reject(new Error(`pulumi ${args.join(" ")}: ${stderr.trim() || e.message}`)) : resolve(stdout)),
        );
    });
}

/**
 * A stack of RedisClusters (components/cluster), each exported under its own name (clusterOutputs: RedisClusterOutputs).
 * `clusters` is read at every `up`, so a test changes a cluster's args (say `masters`) and runs `stack.up()` again.
 */
export function clusterStack(scope: Scope, stackName: string, clusters: Record<string, RedisClusterArgs>): Promise<Stack> {
    return testStack(scope, stackName, async () =>
        Object.fromEntries(Object.entries(clusters).map(([name, args]) => [name, clusterOutputs(new RedisCluster(name, args))])),
    );
}

/**
 * A stack `name` holding one RedisCluster `name` (3+1) on the local engine in `subnet`, as the drift and guard suites
 * deploy it: "soft" anti-affinity (one engine) and a 3 s node timeout, so that a killed master fails over quickly.
 */
export function localClusterStack(scope: Scope, name: string, subnet: string): Promise<Stack> {
    return clusterStack(scope, name, { [name]: { antiAffinity: "soft", subnet, nodeTimeoutMs: 3000 } });
}

type RedisClient = Awaited<ReturnType<typeof wire.connect>>;

/** A RedisCluster as deployed: its plan, admin user and TLS material read from the stack outputs under `name`. */
export class DeployedCluster {
    /** The plan the component made (with each node's host). */
    readonly plan: PlannedNode[];
    /** What the bootstrap and the guard take: the nodes without placement, the admin user, CA and client certificate. */
    readonly target: GuardTarget;
    readonly app: Credentials;

    /** `engines`: host name -> DOCKER_HOST address, for nodes not on the local engine. */
    constructor(
        outputs: Record<string, any>,
        readonly name: string,
        readonly engines: Record<string, string> = {},
    ) {
        this.plan = outputs[name].nodes;
        this.target = targetFromOutputs(outputs, name);
        this.app = outputs[name].appUser;
    }

    get masters(): PlannedNode[] {
        return this.plan.filter(n => n.role === "master");
    }
    node(name: string): PlannedNode {
        return this.plan.find(n => n.name === name)!;
    }
    replicaOf(master: PlannedNode): PlannedNode {
        return this.plan.find(n => n.masterName === master.name)!;
    }

    /** A client on one node as the admin user. */
    on<T>(n: { ip: string; port: number }, f: (c: RedisClient) => Promise<T>, o: { connectTimeoutMs?: number } = {}): Promise<T> {
        return wire.withClient({ host: n.ip, port: n.port }, { auth: this.target.auth, tls: this.target.tls, ...o }, f);
    }

    /** A cluster client as the application user (components/client connect(), seeded with `from`, default the masters). */
    appClient(o: { from?: PlannedNode[]; tls?: TlsMaterial; client?: ClientOptions } = {}): Promise<Cluster> {
        return connect({ kind: "cluster", nodes: o.from ?? this.masters, tls: o.tls ?? this.target.tls, ...this.app }, o.client);
    }

    async withApp<T>(f: (c: Cluster) => Promise<T>, o: { from?: PlannedNode[]; tls?: TlsMaterial } = {}): Promise<T> {
        const c = await this.appClient(o);
        try {
            return await f(c);
        } finally {
            c.disconnect();
        }
    }

    /** `docker` against the engine `n` runs on. */
    docker(n: PlannedNode, ...args: string[]): string {
        return dockerOn(this.engines[n.host], ...args);
    }

    /** redis-cli --cluster check's report, run inside `n`'s container with its own certificate (it exits 1 when it
     *  finds errors, so the output is read either way). */
    check(n: PlannedNode): string {
        const r = spawnSync(
            "docker",
            onEngine(
                this.engines[n.host],
                "exec",
                "-e",
                `REDISCLI_AUTH=${this.target.auth.password}`,
                n.name,
                "redis-cli",
                "--tls",
                "--cacert",
                `${TLS_DIR}/ca.crt`,
                "--cert",
                `${TLS_DIR}/node.crt`,
                "--key",
                `${TLS_DIR}/node.key`,
                "--user",
                this.target.auth.username,
                "--cluster",
                "check",
                `${n.ip}:${n.port}`,
            ),
            { encoding: "utf8" },
        );
        return r.stdout + r.stderr;
    }

    expectCheckPasses(n: PlannedNode = this.plan[0]): void {
        const out = this.check(n);
        expect(out).toContain("[OK] All nodes agree about slots configuration.");
        expect(out).toContain("[OK] All 16384 slots covered.");
        expect(out).not.toMatch(/\[(WARNING|ERR)\]/);
    }

    /** Every node in its planned role with cluster_state:ok, each replica linked to its planned master. */
    async expectPlannedRoles(): Promise<void> {
        for (const n of this.plan) {
            await this.on(n, async c => {
                const repl = await wire.info(c, "replication");
                const master = n.masterName ? this.node(n.masterName) : undefined;
                expect([n.name, (await wire.clusterInfo(c)).cluster_state, repl.role, repl.master_host, repl.master_link_status]).toEqual([
                    n.name,
                    "ok",
                    n.role === "master" ? "master" : "slave",
                    master?.ip,
                    master && "up",
                ]);
            });
        }
    }
}

/**
 * What a RedisCluster's bootstrap did in one update, in order: the lines it prints as `<cluster>: <action>` on its
 * provider's stderr, which the engine passes on as `info#err` diagnostics (collect them with onEvent); its drift
 * findings (`<cluster>: drift: ...`) left out.
 */
export function bootstrapActions(diagnostics: DiagnosticEvent[], clusterName: string): string[] {
    const prefix = `${clusterName}: `;
    return diagnostics
        .filter(e => e.severity === "info#err")
        .flatMap(e => e.message.split("\n"))
        .map(l => l.trim())
        .filter(l => l.startsWith(prefix) && !l.startsWith(`${prefix}drift: `))
        .map(l => l.slice(prefix.length));
}
