// ClusterGateway on another Docker engine than its cluster, as the seed pictures it (Redis in one data centre, the
// application in another): a RedisCluster (3 masters, TLS) by `dockerHost` on test host h1 and its ClusterGateway by
// `dockerHost` on test host h2 (scripts/test-hosts.sh), through the real engine and plugins. The application runs in
// h2's network namespace (remote-app.ts), where the gateway's listeners are on loopback; h1's firewall is the one the
// README gives a cluster host fronted by a gateway elsewhere (scripts/host-firewall.sh --tunnels/--gateway, no peers).
// Then the key is rotated (`keyRotation`) while that application keeps writing and reading through the gateway.
// Uses test hosts h1 and h2 and changes h1's firewall for the suite: hold `flock /tmp/rst-test-hosts.lock`.
import keySlot from "cluster-key-slot";
import type { Stack } from "@pulumi/pulumi/automation";
import { execFile } from "child_process";
import * as path from "path";
import { clusterOutputs, RedisCluster } from "../../components/cluster";
import { ClusterGateway } from "../../components/gateway";
import * as wire from "../../components/redis/wire";
import { DeployedCluster, plainOutputs, stateSecrets, tearDown, testStack } from "./deploy";
import {
    dockerOn,
    expectNoSecrets,
    IMAGE,
    inTestHostNetwork,
    Scope,
    startTestHosts,
    testHostAddresses,
    testHostEngine,
    testHostSubnet,
} from "./harness";
import { LoadReport, RemoteApp } from "./remote-app";

jest.setTimeout(300_000);

const CLUSTER_HOST = "h1";
const GATEWAY_HOST = "h2";
const ENGINE: Record<string, string> = { [CLUSTER_HOST]: testHostEngine(CLUSTER_HOST), [GATEWAY_HOST]: testHostEngine(GATEWAY_HOST) };
const NODE_SUBNET = testHostSubnet(CLUSTER_HOST, "nodes");
const TRANSIT_SUBNET = testHostSubnet(CLUSTER_HOST, "tunnels");
const GATEWAY_SUBNET = testHostSubnet(GATEWAY_HOST, "tunnels");
const BASE_PORT = 27240;
const SERVER_PORT = 8379; // ClusterGateway's default serverPort
const CLUSTER = "itgwx";
const GATEWAY = "itgwxg";
const GATEWAY_NET = `${GATEWAY}-net`; // ClusterGateway names its own network on its engine <name>-net
const FIREWALL = path.join(__dirname, "../../scripts/host-firewall.sh");
const OURS = /^itgwx/;

/** A TCP connect from inside h2's network namespace, or (`container`) from a container on h2: "open", "refused" or
 *  "no answer" in 2 s (a firewall dropped the SYN). Without blocking: the probes run in parallel. */
function probeFromGatewayHost(ip: string, port: number, container?: string): Promise<string> {
    const connectTo = `timeout 2 bash -c '</dev/tcp/${ip}/${port}' 2>/dev/null; echo $?`;
    const [cmd, ...args] = container
        ? ["docker", "-H", ENGINE[GATEWAY_HOST], "exec", container, "bash", "-c", connectTo]
        : ["nsenter", `--net=/run/netns/rst-${GATEWAY_HOST}`, "bash", "-c", connectTo];
    return new Promise(resolve =>
        execFile(cmd, args, { encoding: "utf8", timeout: 30_000 }, (e, stdout) => {
            const rc = stdout.trim();
            resolve(
                e
                    ? `failed: ${e.message}`
                    : (({ 0: "open", 1: "refused", 124: "no answer" } as Record<string, string>)[rc] ?? `exit ${rc}`),
            );
        }),
    );
}

describe("ClusterGateway on test host h2 in front of a RedisCluster on test host h1 (3 masters, TLS), the application on h2", () => {
    const scope = new Scope(undefined, Object.values(ENGINE));
    let stack: Stack | undefined;
    let out: Record<string, any>;
    let rc: DeployedCluster;
    let gw: {
        endpoints: { node: string; ip: string; port: number }[];
        natMap: Record<string, { host: string; port: number }>;
        keyBase64: string;
    };
    let app: RemoteApp | undefined;
    let rotation = "";
    const handBuilt: string[] = [];
    const up = async () => {
        out = plainOutputs((await stack!.up()).outputs);
        rc = new DeployedCluster(out, CLUSTER, { [CLUSTER_HOST]: ENGINE[CLUSTER_HOST] });
        gw = out.gateway;
    };
    const startApp = () =>
        RemoteApp.start(
            GATEWAY_HOST,
            { kind: "cluster", nodes: gw.endpoints, natMap: gw.natMap, tls: { ca: out[CLUSTER].caCertPem }, ...rc.app },
            // Reconnects for up to ~35 s (connect()'s default of 10 gives up after ~13 s, about as long as a key rotation's break).
            { commandTimeoutMs: 3000, maxReconnects: 20 },
        );
    const listener = (node: string) => `127.0.0.1:${gw.endpoints.find(e => e.node === node)!.port}`;
    const keysIn = (range: [number, number], n: number, prefix: string) => {
        const keys: string[] = [];
        for (let i = 0; keys.length < n; i++)
            if (keySlot(`${prefix}:${i}`) >= range[0] && keySlot(`${prefix}:${i}`) <= range[1]) keys.push(`${prefix}:${i}`);
        return keys;
    };
    const containers = (host: string, suffix: string) =>
        dockerOn(ENGINE[host], "ps", "--filter", `name=^${GATEWAY}-`, "--format", "{{.Names}}")
            .split("\n")
            .filter(n => n.endsWith(suffix))
            .sort();
    const endIds = () =>
        Object.fromEntries(
            [...containers(CLUSTER_HOST, "-server"), ...containers(GATEWAY_HOST, "-client")].map(n => [
                n,
                dockerOn(ENGINE[n.endsWith("-server") ? CLUSTER_HOST : GATEWAY_HOST], "inspect", "-f", "{{.Id}}", n),
            ]),
        );

    beforeAll(async () => {
        startTestHosts(3); // throws why when they cannot start: the suite fails
        // Fixed names and subnets: remove what a run that died half-way left on h1 and h2.
        for (const engine of Object.values(ENGINE)) {
            const left = (...list: string[]) =>
                dockerOn(engine, ...list)
                    .split("\n")
                    .filter(n => OURS.test(n));
            const cs = left("ps", "-a", "--format", "{{.Names}}");
            if (cs.length) dockerOn(engine, "rm", "-f", "-v", ...cs);
            for (const what of ["network", "volume"]) {
                const list = left(what, "ls", "--format", "{{.Name}}");
                if (list.length) dockerOn(engine, what, "rm", ...list);
            }
        }
        // h1 as the README tells a cluster host fronted by a gateway on another host: no Redis peers, the client port
        // from this machine (the operator: admin reads and the slot moves below), the tunnels' port from h2 only.
        inTestHostNetwork(
            CLUSTER_HOST,
            "bash",
            FIREWALL,
            "--subnet",
            NODE_SUBNET,
            "--client",
            testHostAddresses(CLUSTER_HOST).machine,
            "--tunnels",
            TRANSIT_SUBNET,
            "--gateway",
            testHostAddresses(GATEWAY_HOST).host,
        );
        stack = await testStack(scope, CLUSTER, async () => {
            // Not internal: this machine (routed to h1) reaches the nodes as an operator; h1's firewall keeps h2 out.
            const cluster = new RedisCluster(CLUSTER, {
                masters: 3,
                replicasPerMaster: 0,
                hosts: [{ name: CLUSTER_HOST, dockerHost: ENGINE[CLUSTER_HOST], subnet: NODE_SUBNET }],
                antiAffinity: "soft",
                internalNetwork: false,
                loopbackSans: true,
            });
            const gateway = new ClusterGateway(GATEWAY, {
                cluster,
                dockerHost: ENGINE[GATEWAY_HOST],
                subnet: TRANSIT_SUBNET,
                gatewaySubnet: GATEWAY_SUBNET,
                basePort: BASE_PORT,
                keyRotation: rotation,
            });
            return {
                [CLUSTER]: clusterOutputs(cluster),
                gateway: { endpoints: gateway.endpoints, natMap: gateway.natMap, keyBase64: gateway.keyBase64 },
            };
        });
        await up();
        app = await startApp();
    });
    afterAll(async () => {
        await app?.quit();
        try {
            for (const c of handBuilt) dockerOn(ENGINE[GATEWAY_HOST], "rm", "-f", c);
            await tearDown(scope, stack);
        } finally {
            startTestHosts(3); // test-hosts.sh's own firewall on every host again
        }
    });

    test("the servers run on h1, the clients on h2, each client published on h2's loopback only; the natMap names every announced address", async () => {
        const nodes = rc.plan.map(n => n.name).sort();
        expect(containers(CLUSTER_HOST, "-server")).toEqual(nodes.map(n => `${GATEWAY}-${n}-server`));
        expect(containers(GATEWAY_HOST, "-client")).toEqual(nodes.map(n => `${GATEWAY}-${n}-client`));
        expect([containers(GATEWAY_HOST, "-server"), containers(CLUSTER_HOST, "-client")]).toEqual([[], []]);
        for (const e of gw.endpoints) {
            expect(dockerOn(ENGINE[GATEWAY_HOST], "port", `${GATEWAY}-${e.node}-client`)).toBe(`${e.port}/tcp -> 127.0.0.1:${e.port}`);
        }
        const announced = await rc.on(rc.plan[0], async c =>
            String(await c.call("CLUSTER", "NODES"))
                .trim()
                .split("\n")
                .map(l => l.split(" ")[1].split("@")[0])
                .sort(),
        );
        expect(Object.keys(gw.natMap).sort()).toEqual(announced);
        expect(announced.every(a => a.startsWith(NODE_SUBNET.replace(/0\/24$/, "")))).toBe(true);
    });

    test("SET and GET of keys in every master's slot range by the application on h2; each master holds its share", async () => {
        for (const m of rc.masters) {
            const keys = keysIn(m.slots!, 30, `spread-${m.name}`);
            for (const k of keys) expect(await app!.call("SET", k, k)).toBe("OK");
            for (const k of keys) expect(await app!.call("GET", k)).toBe(k);
            // Read on the owner itself (admin, from this machine): the keys landed where the slot map says.
            expect(await rc.on(m, c => Promise.all(keys.map(k => c.call("EXISTS", k))))).toEqual(Array(30).fill(1));
        }
        expect((await app!.addresses()).filter(a => !gw.endpoints.some(e => `${e.ip}:${e.port}` === a))).toEqual([]);
    });

    test("a redirect followed through the tunnels: ASK during a slot migration, then MOVED once the slot changed owner", async () => {
        const [m0, m1] = rc.masters;
        const ids = out[CLUSTER].nodeIds as Record<string, string>;
        // A key in a slot of m0 that holds no key yet (a slot with keys cannot change owner by SETSLOT NODE).
        let key = "";
        for (const k of keysIn(m0.slots!, 50, "redirect")) {
            if ((await rc.on(m0, c => c.call("CLUSTER", "COUNTKEYSINSLOT", keySlot(k)))) === 0) {
                key = k;
                break;
            }
        }
        const slot = keySlot(key);
        const m1Announced = `${m1.ip}:${m1.port}`;
        await rc.on(m1, c => c.call("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[m0.name]));
        await rc.on(m0, c => c.call("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[m1.name]));
        await app!.redirects();
        // m0 owns the slot but not the key: ASK with m1's announced address, which the client follows to m1's tunnel.
        expect(await app!.call("SET", key, "moved")).toBe("OK");
        expect(await app!.redirects()).toEqual([`ASK ${slot} ${m1Announced}`]);
        expect(await rc.on(m1, c => c.call("CLUSTER", "COUNTKEYSINSLOT", slot))).toBe(1);
        for (const m of rc.masters) await rc.on(m, c => c.call("CLUSTER", "SETSLOT", slot, "NODE", ids[m1.name]));
        expect(await app!.slotOwner(slot)).toBe(listener(m0.name));
        // The client still sends the slot to m0: MOVED to m1, followed through m1's tunnel.
        expect(await app!.call("GET", key)).toBe("moved");
        const redirects = await app!.redirects();
        expect(redirects.length).toBeGreaterThan(0);
        expect([...new Set(redirects)]).toEqual([`MOVED ${slot} ${m1Announced}`]);
        // Back as planned: the key gone, the slot to m0 again.
        expect(await app!.call("DEL", key)).toBe(1);
        for (const m of rc.masters) await rc.on(m, c => c.call("CLUSTER", "SETSLOT", slot, "NODE", ids[m0.name]));
        await wire.waitUntil(
            "every master to see the slot on m0 again",
            async () =>
                (
                    await Promise.all(
                        rc.masters.map(n =>
                            rc.on(n, async c =>
                                ((await c.call("CLUSTER", "SLOTS")) as [number, number, [string, number]][]).some(
                                    ([a, b, [ip]]) => slot >= a && slot <= b && ip === m0.ip,
                                ),
                            ),
                        ),
                    )
                ).every(Boolean),
            10_000,
            100,
        );
    });

    test("from h2 (its namespace and a container on the gateway's network) nothing of the cluster answers but the tunnels' port", async () => {
        const probe = `${GATEWAY}-probe`;
        dockerOn(
            ENGINE[GATEWAY_HOST],
            "run",
            "-d",
            "--name",
            probe,
            "--label",
            scope.label,
            "--network",
            GATEWAY_NET,
            IMAGE,
            "sleep",
            "600",
        );
        handBuilt.push(probe);
        const servers = rc.plan.map(
            n =>
                JSON.parse(
                    dockerOn(ENGINE[CLUSTER_HOST], "inspect", "-f", "{{json .NetworkSettings.Networks}}", `${GATEWAY}-${n.name}-server`),
                ) as Record<string, { IPAddress: string }>,
        );
        const transitIps = servers.map(s => Object.entries(s).find(([net]) => net !== `${CLUSTER}-net-${CLUSTER_HOST}`)![1].IPAddress);
        const nodeNetIps = servers.map(s => s[`${CLUSTER}-net-${CLUSTER_HOST}`].IPAddress);
        // Controls: the probes work (this machine reaches a node as the operator; h2 reaches every tunnel's server).
        await expect(
            wire.withClient({ host: rc.plan[0].ip, port: rc.plan[0].port }, { auth: rc.target.auth, tls: rc.target.tls }, c => c.ping()),
        ).resolves.toBe("PONG");
        // Every node's client and bus port, and each server's address on the nodes' network: h1's firewall drops them.
        const closed = [
            ...rc.plan.flatMap(n => [
                [n.ip, n.port],
                [n.ip, n.busPort],
            ]),
            ...nodeNetIps.map(ip => [ip, SERVER_PORT]),
        ] as [string, number][];
        const probes = [undefined, probe].flatMap(from => [
            ...transitIps.map(ip => ({ from, target: `${ip}:${SERVER_PORT}`, want: "open" })),
            ...closed.map(([ip, port]) => ({ from, target: `${ip}:${port}`, want: "no answer" })),
        ]);
        const got = await Promise.all(
            probes.map(p => probeFromGatewayHost(p.target.split(":")[0], Number(p.target.split(":")[1]), p.from)),
        );
        const where = (from?: string) => from ?? "h2's namespace";
        expect(probes.map((p, i) => [where(p.from), p.target, got[i]])).toEqual(probes.map(p => [where(p.from), p.target, p.want]));
    });

    test("keyRotation while the application on h2 keeps writing and reading: every end replaced, a new key, every acknowledged write read back", async () => {
        const before = endIds();
        const key = gw.keyBase64;
        const keys = rc.masters.flatMap(m => keysIn(m.slots!, 10, `rotate-${m.name}`));
        await app!.startLoad(keys, 20_000);
        let report: LoadReport;
        const t0 = Date.now();
        try {
            rotation = "r2";
            await up();
        } finally {
            const upMs = Date.now() - t0;
            // Let it run on a little past the update, so it ends on working tunnels (it stops after at most 20000 pairs).
            await wire
                .waitUntil("the load to go on after the rotation", async () => (await app!.call("PING")) === "PONG", 30_000, 200)
                .catch(() => undefined);
            report = await app!.stopLoad();
            console.log(
                `keyRotation through the gateway: pulumi up ${upMs} ms; ${report.pairs} SET+GET pairs, ${report.failed} commands failed` +
                    ` (first ${report.firstFailureMs ?? "-"} ms, last ${report.lastFailureMs ?? "-"} ms after the load started), longest gap between two good pairs ${report.longestGapMs} ms;` +
                    ` errors: ${JSON.stringify(report.errors)}`,
            );
        }
        expect(gw.keyBase64).not.toBe(key);
        const after = endIds();
        expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
        expect(Object.keys(after).filter(n => after[n] === before[n])).toEqual([]);
        expect(report.wrongReads).toBe(0);
        expect(Object.keys(report.written).length).toBeGreaterThan(0);
        // Every write the load had acknowledged is there, read through the new tunnels.
        for (const [k, v] of Object.entries(report.written)) expect([k, await app!.call("GET", k)]).toEqual([k, v]);
    });

    test("no changes on a second preview of what the gateway made across the two engines; no key or password in any log", async () => {
        const mine = ((await stack!.exportStack()).deployment.resources ?? [])
            .map((r: { urn: string }) => r.urn)
            .filter((u: string) => u.includes("redis-secure-topologies:gateway:ClusterGateway"));
        // The component, the engine provider, the key, an image per engine, the transit and its own network, 3 servers
        // and 3 clients with a writer and a volume each.
        expect(mine.length).toBe(1 + 1 + 1 + 2 + 1 + 1 + 6 * 3);
        await stack!.preview({ expectNoChanges: true, target: mine });
        const logs = scope.logs();
        expect(logs).toMatch(/Cluster state changed: ok/); // the logs were read
        expectNoSecrets(logs, { ...(await stateSecrets(stack!)), key: gw.keyBase64 });
    });
});
