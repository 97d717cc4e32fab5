// RedisCluster (components/cluster) over three real Docker engines, deployed through the real engine and the
// tls/random/docker plugins: `hosts` with a `dockerHost` each, from which the component makes one docker provider
// per host. The engines are the test hosts (scripts/test-hosts.sh: each dockerd in its own network namespace, routed
// to the others, with Docker's default firewall and the rules scripts/host-firewall.sh adds, as the README tells
// users to); the image reaches them with `scripts/image.sh --to`, as the README tells users to.
// Then one host is cut off the network (its veth down: the containers keep running, nobody reaches them) and
// brought back; another host crashes (every Redis on it killed, nothing saved) and is restarted; a fail-back whose
// first request is lost is asked again. Last, the project's prod example stack (stacks/Pulumi.prod.yaml) is deployed
// by program.ts onto the same three hosts.
import { Stack } from "@pulumi/pulumi/automation";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as net from "net";
import * as path from "path";
import { converge } from "../../components/cluster/converge";
import type { PlannedNode } from "../../components/cluster/plan";
import * as wire from "../../components/redis/wire";
import { deploy, PROJECT } from "../../program";
import { openStack, projectCopy, REPO } from "../../scripts/workspace";
import { clusterStack, DeployedCluster, labelDockerResources, plainOutputs, tearDown } from "./deploy";
import { dockerOn, IMAGE, inTestHostNetwork, Scope, setTestHostLink, startTestHosts, testHostEngine } from "./harness";

jest.setTimeout(300_000);

const HOSTS = ["h1", "h2", "h3"];
const ENGINES: Record<string, string> = Object.fromEntries(HOSTS.map(h => [h, testHostEngine(h)]));
/** test-hosts.sh routes 172.26.N.0/24 to host hN. */
const hostSubnet = (h: string) => `172.26.${h.slice(1)}.0/24`;
/** What this file deploys: the RedisCluster `itmh` and the prod example as stack `itprod` (`cluster-itprod-*`). */
const OURS = /^(itmh-|cluster-itprod-)/;
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The names of the containers, networks or volumes on `engine` that this file's deployments make. */
function ours(engine: string, what: "container" | "network" | "volume"): string[] {
    const list = what === "container" ? ["ps", "-a", "--format", "{{.Names}}"] : [what, "ls", "--format", "{{.Name}}"];
    return dockerOn(engine, ...list)
        .split("\n")
        .filter(n => OURS.test(n));
}

/** Container name -> test host, and container address -> test host, as the engines report them. */
function whereRunning(prefix: string, engines: Record<string, string>): { engineOf: Map<string, string>; engineOfIp: Map<string, string> } {
    const engineOf = new Map<string, string>();
    const engineOfIp = new Map<string, string>();
    for (const [host, engine] of Object.entries(engines)) {
        for (const name of dockerOn(engine, "ps", "--filter", `name=^${prefix}`, "--format", "{{.Names}}").split("\n").filter(Boolean)) {
            engineOf.set(name, host);
            engineOfIp.set(dockerOn(engine, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name), host);
        }
    }
    return { engineOf, engineOfIp };
}

/** A TCP connect to ip:port, from this machine or (`from`: [engine, container]) from inside a container: "open",
 *  "refused" (a reset: reached, nothing listens) or "no answer" within 2 s (a firewall dropped the SYN). */
async function probe(ip: string, port: number, from?: [string, string]): Promise<string> {
    if (from) {
        const rc = dockerOn(from[0], "exec", from[1], "bash", "-c", `timeout 2 bash -c '</dev/tcp/${ip}/${port}' 2>/dev/null; echo $?`);
        return ({ 0: "open", 1: "refused", 124: "no answer" } as Record<string, string>)[rc] ?? `exit ${rc}`;
    }
    return new Promise(done => {
        const s = net.connect({ host: ip, port, timeout: 2000 });
        const end = (what: string) => {
            s.destroy();
            done(what);
        };
        s.on("connect", () => end("open"))
            .on("timeout", () => end("no answer"))
            .on("error", (e: NodeJS.ErrnoException) => end(e.code === "ECONNREFUSED" ? "refused" : (e.code ?? e.message)));
    });
}

beforeAll(() => {
    startTestHosts(HOSTS.length); // throws why when they cannot start: the suite fails
    // The subnets are fixed, so a run that died half-way would block this one: remove what it left, by name.
    for (const engine of Object.values(ENGINES)) {
        const [containers, networks, volumes] = (["container", "network", "volume"] as const).map(w => ours(engine, w));
        if (containers.length) dockerOn(engine, "rm", "-f", "-v", ...containers);
        if (networks.length) dockerOn(engine, "network", "rm", ...networks);
        if (volumes.length) dockerOn(engine, "volume", "rm", ...volumes);
    }
});

describe("scripts/image.sh --to: the image reaches the engines without a registry (before anything deploys there)", () => {
    const image = (...args: string[]) => spawnSync("bash", [path.join(__dirname, "../../scripts/image.sh"), ...args], { encoding: "utf8" });

    test("loaded where it is missing, left alone where present, and a host that does not answer fails naming it", () => {
        // h3 as a fresh engine (nothing of ours runs there: leftovers are gone; image rm fails if anything uses it).
        dockerOn(ENGINES.h3, "image", "rm", IMAGE);
        const first = image(...HOSTS.flatMap(h => ["--to", ENGINES[h]]));
        expect([first.status, first.stdout]).toEqual([0, expect.stringContaining(`load image ${IMAGE} on ${ENGINES.h3}`)]);
        for (const h of ["h1", "h2"]) expect(first.stdout).toContain(`image ${IMAGE} on ${ENGINES[h]}: present`);
        expect(dockerOn(ENGINES.h3, "run", "--rm", IMAGE, "redis-server", "--version")).toMatch(/^Redis server v=7\./);
        const again = image("--to", ENGINES.h3);
        expect([again.status, again.stdout]).toEqual([0, expect.stringContaining(`image ${IMAGE} on ${ENGINES.h3}: present`)]);
        const nowhere = image("--to", "unix:///run/rst-hosts/nothing.sock");
        expect([nowhere.status, nowhere.stderr]).toEqual([
            1,
            expect.stringContaining(`could not load ${IMAGE} on unix:///run/rst-hosts/nothing.sock`),
        ]);
    });
});

describe("RedisCluster over 3 Docker engines by dockerHost (3 masters x 1 replica, mutual TLS, node timeout 3 s): a host cut off, a host crashed", () => {
    const scope = new Scope(undefined, Object.values(ENGINES));
    const hosts = HOSTS.map(name => ({ name, dockerHost: ENGINES[name], subnet: hostSubnet(name) }));
    let stack: Stack;
    let c: DeployedCluster;
    const log: string[] = [];
    const onOutput = (s: string) => {
        log.push(s);
    };
    const written = new Map<string, string>(); // key -> value, every write acknowledged
    const lost = "h1";

    beforeAll(async () => {
        stack = await clusterStack(scope, "itmh", { itmh: { hosts, mutualTls: true, nodeTimeoutMs: 3000 } });
    });
    afterAll(async () => {
        for (const h of HOSTS) setTestHostLink(h, true);
        await tearDown(scope, stack);
    });

    /** Until the replicas of `lostMasters` are masters and every survivor reports cluster_state:ok. */
    async function waitForFailover(lostMasters: PlannedNode[], survivors: PlannedNode[], what: string): Promise<void> {
        const { auth, tls } = c.target;
        const clients = await Promise.all(survivors.map(n => wire.connect({ host: n.ip, port: n.port }, { auth, tls })));
        const client = (n: PlannedNode) => clients[survivors.indexOf(n)];
        try {
            await wire.waitUntil(
                `the survivors to promote the lost masters' replicas and report cluster_state:ok (${what})`,
                async () => {
                    for (const m of lostMasters) {
                        const role = (await wire.info(client(c.replicaOf(m)), "replication")).role;
                        if (role !== "master") return `${c.replicaOf(m).name} is ${role}`;
                    }
                    for (const n of survivors) {
                        const state = (await wire.clusterInfo(client(n))).cluster_state;
                        if (state !== "ok") return `${n.name}: cluster_state ${state}`;
                    }
                    return true;
                },
                60_000,
                100,
            );
        } finally {
            await Promise.all(clients.map(wire.close));
        }
    }

    /** Until `n` answers again (connecting inside the poll: its route or process comes back late) as a replica
     *  with its master link up; a returning master comes back as one. */
    const waitForRejoin = (n: PlannedNode) =>
        wire.waitUntil(
            `${n.name} to rejoin as a replica with its link up`,
            () =>
                c.on(n, async cl => {
                    const repl = await wire.info(cl, "replication");
                    return repl.role === "slave" && repl.master_link_status === "up"
                        ? true
                        : `${repl.role}, link ${repl.master_link_status}`;
                }),
            60_000,
            200,
        );

    /** A plain `pulumi up` (inputs unchanged): the bootstrap's diff finds each master in `back` serving as its
     *  replica's replica, and its update (converge) fails it back; then no drift is left and a re-run does nothing. */
    async function upHeals(back: PlannedNode[]): Promise<void> {
        const r = await stack.up({ onOutput });
        expect(r.summary.resourceChanges).toEqual({ same: expect.any(Number), update: 1 });
        // The provider's stderr, which the engine prints: the diff's findings and converge's actions.
        const printed = r.stdout + r.stderr;
        for (const m of back) {
            expect(printed).toContain(`itmh: drift: ${m.name} is replica of ${c.replicaOf(m).name}, planned master`);
            expect(printed).toContain(`itmh: ${m.name}: CLUSTER FAILOVER (back to master)`);
        }
        expect(plainOutputs(r.outputs).itmh.drift).toEqual([]);
        await c.expectPlannedRoles();
        await c.withApp(async app => {
            for (const [k, v] of written) expect(await app.get(k)).toBe(v);
        });
        await stack.preview({ expectNoChanges: true, onOutput });
        expect((await converge(c.target)).actions).toEqual([]);
    }

    test("up from empty: one docker provider per host, every node on its planned engine, no master on its replica's", async () => {
        const t0 = Date.now();
        const r = await stack.up({ onOutput });
        console.log(`up from empty of a 3+3 TLS cluster across 3 engines: ${Date.now() - t0} ms`);
        const out = plainOutputs(r.outputs);
        c = new DeployedCluster(out, "itmh", ENGINES);
        expect(c.plan).toHaveLength(6);
        expect(Object.keys(out.itmh.nodeIds).sort()).toEqual(c.plan.map(n => n.name).sort());
        expect(out.itmh.drift).toEqual([]);

        // The component made a docker provider of each dockerHost, and a network on each engine, on its subnet. The
        // nodes route between engines, so the networks are not internal (TLS protects the traffic).
        const providers = (await stack.exportStack()).deployment.resources.filter(
            (x: { type: string }) => x.type === "pulumi:providers:docker",
        );
        expect(providers.map((p: { urn: string; inputs: { host: string } }) => [p.urn.split("::").pop(), p.inputs.host]).sort()).toEqual(
            HOSTS.map(h => [`itmh-engine-${h}`, ENGINES[h]]),
        );
        for (const h of HOSTS) {
            expect(
                dockerOn(
                    ENGINES[h],
                    "network",
                    "inspect",
                    "-f",
                    "{{range .IPAM.Config}}{{.Subnet}}{{end}} internal={{.Internal}}",
                    `itmh-net-${h}`,
                ),
            ).toBe(`${hostSubnet(h)} internal=false`);
        }

        // Where each container really runs, and with which address, as the engines report it.
        const { engineOf, engineOfIp } = whereRunning("itmh-", ENGINES);
        expect(c.plan.map(n => [n.name, engineOf.get(n.name)])).toEqual(c.plan.map(n => [n.name, n.host]));
        expect([...engineOfIp.keys()].sort()).toEqual(c.plan.map(n => n.ip).sort());
        for (const m of c.masters) expect(c.replicaOf(m).host).not.toBe(m.host);

        await c.expectPlannedRoles();
        for (const n of c.plan.filter(p => p.role === "replica")) {
            // The live master link crosses engines.
            const masterHost = await c.on(n, async cl => (await wire.info(cl, "replication")).master_host);
            expect([n.name, engineOfIp.get(masterHost)]).toEqual([n.name, c.node(n.masterName!).host]);
            expect(engineOfIp.get(masterHost)).not.toBe(engineOf.get(n.name));
        }
        c.expectCheckPasses();
        await stack.preview({ expectNoChanges: true, onOutput });
    });

    test("the hosts keep Docker's default firewall plus scripts/host-firewall.sh: between hosts only the client and bus ports pass, from this machine only the client port", async () => {
        for (const h of HOSTS) {
            const forward = inTestHostNetwork(h, "iptables", "-S", "FORWARD").split("\n");
            expect([h, forward[0], forward[1]]).toEqual([h, "-P FORWARD DROP", "-A FORWARD -j DOCKER-USER"]);
            expect(inTestHostNetwork(h, "iptables", "-S", "DOCKER-USER")).toContain("-A DOCKER-USER -j REDIS-CLUSTER");
        }
        const target = c.plan.find(n => n.host === "h1")!;
        const sameHost = c.plan.find(n => n.host === "h1" && n !== target)!;
        const otherHost = c.plan.find(n => n.host === "h2")!;
        const closed = target.port + 1; // nothing listens there
        // On its own bridge a node reaches the closed port (refused: no firewall between them); from another host the
        // same port gets no answer (dropped), while the bus port, which the cluster needs, is open.
        expect(await probe(target.ip, closed, [ENGINES.h1, sameHost.name])).toBe("refused");
        expect(await probe(target.ip, closed, [ENGINES.h2, otherHost.name])).toBe("no answer");
        expect(await probe(target.ip, target.busPort, [ENGINES.h2, otherHost.name])).toBe("open");
        // This machine is a client network: the client port only; the cluster bus stays between the hosts.
        expect(await probe(target.ip, target.port)).toBe("open");
        expect(await probe(target.ip, target.busPort)).toBe("no answer");
    });

    test("a host cut off the network: its master fails over to a replica on another engine and every key is still served", async () => {
        // 300 keys over every master's slots, each master's writes acknowledged by its replica.
        const owner = (slot: number) => c.masters.find(m => slot >= m.slots![0] && slot <= m.slots![1])!;
        const byMaster = new Map<string, string[]>(c.masters.map(m => [m.name, []]));
        await c.on(c.masters[0], async cl => {
            for (let i = 0; i < 300; i++) byMaster.get(owner(Number(await cl.call("CLUSTER", "KEYSLOT", `k:${i}`))).name)!.push(`k:${i}`);
        });
        for (const m of c.masters) {
            expect(byMaster.get(m.name)!.length).toBeGreaterThan(50);
            await c.on(m, async cl => {
                for (const k of byMaster.get(m.name)!) await cl.set(k, k);
                expect(Number(await cl.call("WAIT", "1", "5000"))).toBe(1);
            });
            for (const k of byMaster.get(m.name)!) written.set(k, k);
        }

        const lostMasters = c.masters.filter(m => m.host === lost);
        const survivors = c.plan.filter(n => n.host !== lost);
        expect(lostMasters.length).toBeGreaterThan(0);
        const t0 = Date.now();
        setTestHostLink(lost, false);
        await waitForFailover(lostMasters, survivors, `${lost} cut off`);
        console.log(`failover after cutting ${lost} off: ${Date.now() - t0} ms`);

        // The cut is real: this machine has no route to the lost nodes (test-hosts.sh leaves a blackhole route, so a
        // connect fails at once with EINVAL) and the survivors mark them failing (the lost replica may still be
        // "fail?", not yet agreed by a majority).
        const [gone] = lostMasters;
        await expect(
            wire.connect({ host: gone.ip, port: gone.port }, { auth: c.target.auth, tls: c.target.tls, connectTimeoutMs: 1000 }),
        ).rejects.toThrow(
            new RegExp(
                `^cannot reach Redis at ${esc(gone.ip)}:${gone.port} \\(TLS\\): connect EINVAL ${esc(gone.ip)}:${gone.port} - Local \\(0\\.0\\.0\\.0:0\\)$`,
            ),
        );
        const view = await c.on(survivors[0], wire.clusterNodes);
        for (const n of c.plan.filter(p => p.host === lost)) {
            expect(view.find(v => v.ip === n.ip)!.flags).toEqual(expect.arrayContaining([expect.stringMatching(/^fail\??$/)]));
        }
        for (const m of lostMasters) expect(view.find(v => v.ip === m.ip)!.flags).toContain("fail");
        for (const m of lostMasters) expect(view.find(v => v.ip === c.replicaOf(m).ip)!.slots).toEqual([m.slots]);

        await c.withApp(
            async app => {
                for (const [k, v] of written) expect(await app.get(k)).toBe(v);
                // The lost master's slots take writes again, on its promoted replica.
                for (const k of byMaster.get(gone.name)!) {
                    await app.set(k, `after-cut:${k}`);
                    written.set(k, `after-cut:${k}`);
                }
            },
            { from: survivors },
        );
    });

    test("the host comes back: its master rejoins as a replica; a plain `pulumi up` fails it back, every key is readable", async () => {
        setTestHostLink(lost, true);
        const back = c.masters.filter(n => n.host === lost);
        for (const m of back) await waitForRejoin(m);
        await upHeals(back);
    });

    test("a host crashes (every Redis on it killed, nothing saved): failover, every acknowledged key served; restarted, its nodes resync and `pulumi up` restores the roles", async () => {
        const crashed = "h2";
        const onHost = c.plan.filter(n => n.host === crashed);
        const crashedMasters = c.masters.filter(n => n.host === crashed);
        // Fresh writes on every master, acknowledged by its replica, right before the crash.
        await c.withApp(async app => {
            for (let i = 0; i < 150; i++) {
                await app.set(`crash:${i}`, `v${i}`);
                written.set(`crash:${i}`, `v${i}`);
            }
            for (const mm of app.nodes("master")) expect(Number(await mm.call("WAIT", "1", "5000"))).toBe(1);
        });
        const t0 = Date.now();
        dockerOn(ENGINES[crashed], "kill", ...onHost.map(n => n.name)); // SIGKILL: no shutdown save
        await waitForFailover(
            crashedMasters,
            c.plan.filter(n => n.host !== crashed),
            `${crashed} crashed`,
        );
        console.log(`failover after ${crashed} crashed: ${Date.now() - t0} ms`);
        await c.withApp(
            async app => {
                for (const [k, v] of written) expect(await app.get(k)).toBe(v);
            },
            { from: c.plan.filter(n => n.host !== crashed && n.role === "master") },
        );

        dockerOn(ENGINES[crashed], "start", ...onHost.map(n => n.name));
        for (const n of onHost) await waitForRejoin(n);
        await upHeals(crashedMasters);
    });

    test("converge asks for a fail-back again when the first request does not complete (cluster bus to the master blocked for 7 s)", async () => {
        // converge() itself, as the bootstrap's update runs it: the block must start right before its first CLUSTER
        // FAILOVER, which the start of a `pulumi up` (engine, plugins, diff) cannot be timed against.
        const [m, r] = [c.masters[0], c.replicaOf(c.masters[0])];
        // TAKEOVER: no election, which a node that won one moments ago would not start.
        await c.on(r, cl => wire.failover(cl, "TAKEOVER"));
        await wire.waitUntil(
            `${m.name} to follow ${r.name}`,
            () =>
                c.on(m, async cl => {
                    const repl = await wire.info(cl, "replication");
                    return repl.role === "slave" && repl.master_link_status === "up";
                }),
            30_000,
            100,
        );
        // The old master's cluster-bus messages to its new master are dropped for longer than a manual failover
        // waits (5 s): the first CLUSTER FAILOVER's request never arrives in time.
        const rule = ["FORWARD", "-s", m.ip, "-d", r.ip, "-p", "tcp", "--dport", String(r.busPort), "-j", "DROP"];
        inTestHostNetwork(m.host, "iptables", "-I", ...rule);
        const unblock = new Promise<void>(done =>
            setTimeout(() => {
                inTestHostNetwork(m.host, "iptables", "-D", ...rule);
                done();
            }, 7000),
        );
        try {
            const healed = await converge(c.target);
            expect(healed.actions).toContain(`${m.name}: CLUSTER FAILOVER (back to master)`);
            expect(healed.actions).toContain(`${m.name}: CLUSTER FAILOVER (asked again)`);
        } finally {
            await unblock;
        }
        await c.on(m, async cl => expect((await wire.info(cl, "replication")).role).toBe("master"));
        expect((await converge(c.target)).actions).toEqual([]);
        await stack.preview({ expectNoChanges: true, onOutput });
    });
});

describe("the prod example stack (stacks/Pulumi.prod.yaml: 6 x 2, mutual TLS, hard anti-affinity) deployed by program.ts onto the 3 test hosts", () => {
    const scope = new Scope(undefined, Object.values(ENGINES));
    const workDir = projectCopy(scope.dir);
    const key = (k: string) => `${PROJECT}:${k}`;
    const prod = (yaml.load(fs.readFileSync(path.join(REPO, "stacks/Pulumi.prod.yaml"), "utf8")) as { config: Record<string, unknown> })
        .config;
    const prodHosts = prod[key("clusterHosts")] as { name: string; dockerHost: string; subnet: string }[];
    /** The prod hosts in order on h1..h3. Their subnets are the test hosts' routed ones, so only the addresses change. */
    const engines = Object.fromEntries(prodHosts.map((h, i) => [h.name, ENGINES[HOSTS[i]]]));
    let stack: Stack;
    let c: DeployedCluster;

    beforeAll(async () => {
        // The prod file as this stack's config file, then the engine addresses set over it (`config set --path`).
        fs.copyFileSync(path.join(workDir, "stacks/Pulumi.prod.yaml"), path.join(workDir, "stacks/Pulumi.itprod.yaml"));
        stack = await openStack("itprod", path.join(scope.dir, "state"), workDir, async () => {
            labelDockerResources(scope);
            return deploy();
        });
        for (const [i, h] of prodHosts.entries())
            await stack.setConfig(`${key("clusterHosts")}[${i}].dockerHost`, { value: engines[h.name] }, true);
    });
    afterAll(() => tearDown(scope, stack), 600_000);

    test("the stack's config file is the prod file, with only each host's dockerHost pointing at a test host", () => {
        // The prod hosts' subnets are the ones test-hosts.sh routes (the README's multi-host example uses them too).
        expect(prodHosts.map(h => h.subnet)).toEqual(HOSTS.map(hostSubnet));
        expect(prod[key("clusterAntiAffinity")]).toBe("hard");
        const file = yaml.load(fs.readFileSync(path.join(workDir, "stacks/Pulumi.itprod.yaml"), "utf8")) as {
            config: Record<string, unknown>;
        };
        // `config set` rewrites the file and stores top-level scalars as strings (6 -> "6"); the program reads them the same.
        const stored = Object.fromEntries(Object.entries(prod).map(([k, v]) => [k, typeof v === "object" ? v : String(v)]));
        expect(file.config).toEqual({ ...stored, [key("clusterHosts")]: prodHosts.map(h => ({ ...h, dockerHost: engines[h.name] })) });
    });

    test("up from empty: 18 nodes, each on its planned engine, a master and its replicas on three different hosts, in their planned roles", async () => {
        const t0 = Date.now();
        const r = await stack.up();
        console.log(`up from empty of the prod stack (6 x 2 across 3 engines): ${Date.now() - t0} ms`);
        const out = plainOutputs(r.outputs);
        expect(Object.keys(out)).toEqual(["cluster"]); // deployChain: false
        c = new DeployedCluster(out, "cluster", engines);
        expect([c.plan.length, c.masters.length]).toEqual([18, 6]);
        expect(out.cluster.drift).toEqual([]);
        const { engineOf } = whereRunning("cluster-itprod-", engines);
        expect(c.plan.map(n => [n.name, engineOf.get(n.name)])).toEqual(c.plan.map(n => [n.name, n.host]));
        for (const m of c.masters) {
            const shard = [m, ...c.plan.filter(n => n.masterName === m.name)];
            expect([m.name, new Set(shard.map(n => n.host)).size]).toEqual([m.name, 3]);
        }
        await c.expectPlannedRoles();
        c.expectCheckPasses();
        await c.on(c.plan[0], async cl => {
            expect(await cl.call("CONFIG", "GET", "tls-auth-clients")).toEqual(["tls-auth-clients", "yes"]);
            expect(await cl.call("CONFIG", "GET", "maxmemory")).toEqual(["maxmemory", String(4 * 1024 ** 3)]);
        });
    }, 900_000);

    test("the app user's cluster client with the client certificate writes and reads 100 keys; without one it is refused", async () => {
        await c.withApp(async app => {
            for (let i = 0; i < 100; i++) await app.set(`prod:${i}`, String(i));
            for (let i = 0; i < 100; i++) expect(await app.get(`prod:${i}`)).toBe(String(i));
        });
        const n = c.plan[0];
        // TLS 1.3: the server checks the client's certificate after the handshake and drops the connection; the client
        // reads its alert or, when the close comes first, a reset (as in cluster.test).
        await expect(
            wire.withClient(
                { host: n.ip, port: n.port },
                { auth: c.target.auth, tls: { ca: c.target.tls!.ca }, connectTimeoutMs: 1500 },
                cl => cl.ping(),
            ),
        ).rejects.toThrow(
            new RegExp(
                `^cannot reach Redis at ${esc(n.ip)}:${n.port} \\(TLS\\): ((write|read) ECONNRESET|\\S+:error:\\S+:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:\\S+:SSL alert number \\d+\\s*)$`,
            ),
        );
    });

    test("a re-run changes nothing; destroy leaves no container, network or volume on any engine", async () => {
        await stack.preview({ expectNoChanges: true });
        await stack.destroy();
        for (const engine of Object.values(engines)) {
            expect([engine, ours(engine, "container"), ours(engine, "network"), ours(engine, "volume")]).toEqual([engine, [], [], []]);
        }
    }, 600_000);
});
