// ClusterGateway deployed by the real engine and providers in front of a real RedisCluster (3+3, TLS, on its internal
// network): an application on this machine reaches the cluster only through the gateway's loopback listeners, with
// connect() given the gateway's endpoints and natMap; TLS runs inside the tunnels. The only hand-built containers are
// spiped clients with a chosen key on the gateway's network (no component makes one with another key): the controls
// for "the key matters", and the probes for "nothing else is reachable from there".
import keySlot from "cluster-key-slot";
import type { Stack } from "@pulumi/pulumi/automation";
import { execFile } from "child_process";
import * as crypto from "crypto";
import type { Cluster } from "ioredis";
import { connect } from "../../components/client";
import { clusterOutputs, RedisCluster } from "../../components/cluster";
import { ClusterGateway, gatewayPlan } from "../../components/gateway";
import * as wire from "../../components/redis/wire";
import { KEY_BYTES, KEY_FILE } from "../../components/spiped/plan";
import { DeployedCluster, plainOutputs, stateSecrets, tearDown, testStack } from "./deploy";
import { docker, expectNoSecrets, freePort, Scope } from "./harness";

jest.setTimeout(300_000);

const CLUSTER_SUBNET = "172.25.240.0/24";
const TRANSIT_SUBNET = "172.25.241.0/24";
const BASE_PORT = 27230;
const GATEWAY_NET = "itgw-net-local"; // ClusterGateway "itgw" names a host's transit network <name>-net-<host>

/** `docker args...` without blocking (probes run in parallel): its exit code and output. */
const dockerRun = (args: string[]) =>
    new Promise<{ code: number; out: string }>(resolve =>
        execFile("docker", args, { encoding: "utf8", timeout: 30_000 }, (e, stdout, stderr) =>
            resolve({ code: e ? Number((e as { code?: number }).code ?? -1) : 0, out: (stdout + stderr).trim() }),
        ),
    );

describe("ClusterGateway deployed through the engine in front of a RedisCluster", () => {
    const scope = new Scope();
    let stack: Stack | undefined;
    let out: Record<string, any>;
    let rc: DeployedCluster;
    let gw: {
        endpoints: { node: string; ip: string; port: number }[];
        natMap: Record<string, { host: string; port: number }>;
        keyBase64: string;
    };
    let app: Cluster | undefined;
    const handBuilt: string[] = [];
    const redirects: string[] = [];
    let masters = 3;
    const up = async () => {
        out = plainOutputs((await stack!.up()).outputs);
        rc = new DeployedCluster(out, "itgwc");
        gw = out.gateway;
    };
    const appClient = () =>
        connect(
            { kind: "cluster", nodes: gw.endpoints, natMap: gw.natMap, tls: { ca: out.itgwc.caCertPem }, ...rc.app },
            { commandTimeoutMs: 3000 },
        );
    const onlyListeners = (c: Cluster) =>
        c
            .nodes("all")
            .map(n => `${n.options.host}:${n.options.port}`)
            .filter(k => !gw.endpoints.some(e => `${e.ip}:${e.port}` === k));

    const listener = (node: string) => `127.0.0.1:${gw.endpoints.find(e => e.node === node)!.port}`;
    /** `n` keys whose slots lie in `range`. */
    const keysIn = (range: [number, number], n: number, prefix: string) => {
        const keys: string[] = [];
        for (let i = 0; keys.length < n; i++) {
            const slot = keySlot(`${prefix}:${i}`);
            if (slot >= range[0] && slot <= range[1]) keys.push(`${prefix}:${i}`);
        }
        return keys;
    };
    let clusterFor: RedisCluster;
    /** A hand-built spiped client end like the component's (its planned command line, listening on a port of its own),
     *  on the gateway's network, towards the server beside `node`, with the key given here. */
    const clientWithKey = async (name: string, node: string, keyBase64: string): Promise<number> => {
        const port = await freePort();
        const t = gatewayPlan("itgw", { cluster: clusterFor, subnet: TRANSIT_SUBNET, basePort: BASE_PORT }).tunnels.find(
            x => x.node === node,
        )!;
        const command = t.clientCommand.map(a => (a === `[0.0.0.0]:${t.listenPort}` ? `[0.0.0.0]:${port}` : a));
        handBuilt.push(
            scope.container(name, {
                network: GATEWAY_NET,
                command,
                files: { [KEY_FILE]: Buffer.from(keyBase64, "base64") },
                publish: [`127.0.0.1:${port}:${port}`],
            }),
        );
        return port;
    };
    const tlsOn = (port: number, f: (c: Awaited<ReturnType<typeof wire.connect>>) => Promise<unknown>) =>
        wire.withClient(
            { host: "127.0.0.1", port },
            { auth: rc.app, tls: { ca: out.itgwc.caCertPem }, connectTimeoutMs: 2000, commandTimeoutMs: 3000 },
            f,
        );

    beforeAll(async () => {
        stack = await testStack(scope, "itgw", async () => {
            // loopbackSans: TLS runs inside the tunnels, and the client checks each node's certificate against 127.0.0.1.
            clusterFor = new RedisCluster("itgwc", {
                masters,
                antiAffinity: "soft",
                subnet: CLUSTER_SUBNET,
                nodeTimeoutMs: 3000,
                loopbackSans: true,
            });
            const gateway = new ClusterGateway("itgw", { cluster: clusterFor, subnet: TRANSIT_SUBNET, basePort: BASE_PORT });
            return {
                itgwc: clusterOutputs(clusterFor),
                gateway: { endpoints: gateway.endpoints, natMap: gateway.natMap, keyBase64: gateway.keyBase64 },
            };
        });
        await up();
        app = await appClient();
        // Every redirect the client is handed, as Redis sent it (ioredis routes MOVED/ASK through handleError).
        const handle = (app as any).handleError.bind(app);
        (app as any).handleError = (e: Error, ...rest: unknown[]) => {
            redirects.push(e.message);
            return handle(e, ...rest);
        };
    });
    afterAll(async () => {
        app?.disconnect();
        await tearDown(scope, stack, handBuilt);
    });

    test("the natMap maps every address the cluster announces to a loopback listener, and the client uses nothing else", async () => {
        const announced = await rc.on(rc.plan[0], async c =>
            String(await c.call("CLUSTER", "NODES"))
                .trim()
                .split("\n")
                .map(l => l.split(" ")[1].split("@")[0])
                .sort(),
        );
        expect(announced).toEqual(Object.keys(gw.natMap).sort());
        expect(Object.values(gw.natMap).map(m => m.host)).toEqual(Array(6).fill("127.0.0.1"));
        await app!.ping();
        expect(app!.nodes("all").length).toBeGreaterThan(0);
        expect(onlyListeners(app!)).toEqual([]);
    });

    test("SET and GET of keys in every master's slot range through the gateway; each master holds its share", async () => {
        for (const m of rc.masters) {
            const keys = keysIn(m.slots!, 30, `spread-${m.name}`);
            for (const k of keys) expect(await app!.set(k, k)).toBe("OK");
            for (const k of keys) expect(await app!.get(k)).toBe(k);
            // Read on the owner itself (admin, straight to the node): the keys landed where the slot map says.
            expect(await rc.on(m, async c => Promise.all(keys.slice(0, 5).map(k => c.call("EXISTS", k))))).toEqual([1, 1, 1, 1, 1]);
        }
    });

    test("a redirect followed through the tunnels: ASK during a slot migration, then MOVED once the slot changed owner", async () => {
        const [m0, m1] = rc.masters;
        const ids = out.itgwc.nodeIds as Record<string, string>;
        const [key] = keysIn(m0.slots!, 1, "redirect");
        const slot = keySlot(key);
        const m1Announced = `${m1.ip}:${m1.port}`;
        await rc.on(m1, c => c.call("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[m0.name]));
        await rc.on(m0, c => c.call("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[m1.name]));
        redirects.length = 0;
        // m0 owns the slot but not the key: it answers ASK with m1's announced address; the client follows it to m1's tunnel.
        expect(await app!.set(key, "moved")).toBe("OK");
        expect(redirects).toEqual([`ASK ${slot} ${m1Announced}`]);
        expect(await rc.on(m1, c => c.call("CLUSTER", "COUNTKEYSINSLOT", slot))).toBe(1);
        // The migration finished: m1 owns the slot. The client still maps it to m0 and gets MOVED, then follows it.
        for (const m of rc.masters) await rc.on(m, c => c.call("CLUSTER", "SETSLOT", slot, "NODE", ids[m1.name]));
        expect((app as any).slots[slot][0]).toBe(listener(m0.name));
        redirects.length = 0;
        expect(await app!.get(key)).toBe("moved");
        // ioredis 5.11 keeps the unmapped address for the slot after a MOVED, so until the slot refresh it starts
        // returns, a retry may go to another node and be redirected again: every redirect names m1.
        expect(redirects.length).toBeGreaterThan(0);
        expect([...new Set(redirects)]).toEqual([`MOVED ${slot} ${m1Announced}`]);
        expect(gw.natMap[m1Announced]).toEqual({ host: "127.0.0.1", port: Number(listener(m1.name).split(":")[1]) });
        // Back as planned: the key gone, the slot to m0 again.
        await app!.del(key);
        for (const m of rc.masters) await rc.on(m, c => c.call("CLUSTER", "SETSLOT", slot, "NODE", ids[m0.name]));
        await wire.waitUntil(
            "every node to see the slot on m0 again",
            async () =>
                (
                    await Promise.all(
                        rc.plan.map(n =>
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

    test("a spiped client with another key gets no Redis answer (one with the outputs' key does: the control)", async () => {
        const m0 = rc.masters[0].name;
        const right = await clientWithKey("itgw-rightkey", m0, gw.keyBase64);
        const wrong = await clientWithKey("itgw-wrongkey", m0, crypto.randomBytes(KEY_BYTES).toString("base64"));
        await wire.waitUntil(
            "the hand-built tunnel with the right key to carry PING",
            async () => (await tlsOn(right, c => c.ping())) === "PONG",
            20_000,
            200,
        );
        await expect(tlsOn(wrong, c => c.ping())).rejects.toThrow(new RegExp(`cannot reach Redis at 127\\.0\\.0\\.1:${wrong} \\(TLS\\): `));
    });

    test("from the gateway's network no cluster node is reachable; the gateway's clients join nothing else", async () => {
        const networks = (c: string) => Object.keys(JSON.parse(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", c))).sort();
        for (const t of gw.endpoints) expect([t.node, networks(`itgw-${t.node}-client`)]).toEqual([t.node, [GATEWAY_NET]]);
        expect(networks(`itgw-${rc.plan[0].name}-server`)).toEqual([GATEWAY_NET, "itgwc-net-local"].sort());
        // A container of our own on the gateway's network, and the same probe from a server end (on the nodes' network).
        const probeOn = scope.container("itgw-probe", { network: GATEWAY_NET, command: ["sleep", "600"] });
        handBuilt.push(probeOn);
        const probe = (container: string, ip: string) =>
            dockerRun(["exec", container, "timeout", "3", "redis-cli", "--tls", "--insecure", "-h", ip, "-p", "6379", "ping"]);
        const server = `itgw-${rc.plan[0].name}-server`;
        const [control, ...fromGateway] = await Promise.all([probe(server, rc.plan[0].ip), ...rc.plan.map(n => probe(probeOn, n.ip))]);
        expect(control.out).toContain("NOAUTH"); // a route answers (the probe works)
        // Docker's isolation drops the packets: redis-cli waits until `timeout` kills it (exit 124, nothing printed); an
        // exec that could not run would exit 125-127 with a message.
        expect(fromGateway.map((r, i) => [rc.plan[i].name, r.code, r.out])).toEqual(rc.plan.map(n => [n.name, 124, ""]));
    });

    test("scale-out on `pulumi up`: the new shard's nodes get tunnels, the others keep theirs; a client from the new outputs reaches it", async () => {
        const ids = (names: string[]) => names.map(n => docker("inspect", "-f", "{{.Id}}", n));
        const old = gw.endpoints.flatMap(e => [`itgw-${e.node}-server`, `itgw-${e.node}-client`]);
        const before = ids(old);
        masters = 4;
        await up();
        expect(gw.endpoints.map(e => `${e.node} ${e.port}`)).toEqual(
            ["m0 0", "m1 6", "m2 12", "m3 18", "m0-r0 1", "m1-r0 7", "m2-r0 13", "m3-r0 19"]
                .map(x => x.split(" "))
                .map(([n, i]) => `itgwc-${n} ${BASE_PORT + Number(i)}`),
        );
        expect(ids(old)).toEqual(before); // not replaced
        const m3 = rc.node("itgwc-m3");
        const [first] = keysIn(m3.slots!, 1, "scaled");
        // The running client holds the natMap of before, which does not name m3: it is redirected there and fails
        // (connect() maps addresses its natMap does not name to a refused port, 127.0.0.1:1) rather than reach m3 past the tunnels.
        await expect(app!.set(first, "old map")).rejects.toThrow();
        expect(onlyListeners(app!).filter(k => k !== "127.0.0.1:1")).toEqual([]);
        app!.disconnect();
        // The application restarted with the new outputs: every shard through the gateway, m3 included.
        app = await appClient();
        const scaled = keysIn(m3.slots!, 20, "scaled");
        for (const k of scaled) expect(await app.set(k, k)).toBe("OK");
        expect(await rc.on(m3, n => Promise.all(scaled.map(k => n.call("EXISTS", k))))).toEqual(Array(20).fill(1));
        expect(onlyListeners(app)).toEqual([]);
        // No perpetual diff in what the gateway made (targeted: the cluster's own no-change preview is cluster.test's).
        const mine = ((await stack!.exportStack()).deployment.resources ?? [])
            .map((r: { urn: string }) => r.urn)
            .filter((u: string) => u.includes("redis-secure-topologies:gateway:ClusterGateway"));
        // The component, its key, its image, its network, 8 servers and 8 clients, each with its key's writer and volume.
        expect(mine.length).toBe(1 + 1 + 1 + 1 + 16 * 3);
        await stack!.preview({ expectNoChanges: true, target: mine });
    });

    test("a master killed: its replica is promoted and the same client keeps working through the promoted node's tunnel", async () => {
        const m0 = rc.masters[0];
        const r0 = rc.replicaOf(m0);
        const keys = keysIn(m0.slots!, 50, "failover");
        for (const k of keys) await app!.set(k, k);
        expect(await rc.on(m0, c => c.call("WAIT", "1", "5000"))).toBe(1); // the replica has them
        docker("kill", m0.name);
        await rc.on(r0, c =>
            wire.waitUntil("the replica to be promoted", async () => (await wire.info(c, "replication")).role === "master", 30_000, 100),
        );
        // Commands fail while the client learns the new owner; then reads and writes of m0's slots go to r0's tunnel.
        await wire.waitUntil(
            "the client to read through the promoted replica",
            async () => (await app!.get(keys[0]).catch(() => null)) === keys[0],
            30_000,
            200,
        );
        // The slot map the client refreshed names r0's listener (a MOVED leaves the announced address there until then).
        await wire.waitUntil(
            "the client's slot map to name r0's tunnel",
            async () => (await app!.get(keys[0])) === keys[0] && (app as any).slots[keySlot(keys[0])][0] === listener(r0.name),
            10_000,
            100,
        );
        expect(onlyListeners(app!)).toEqual([]);
        for (const k of keys) expect(await app!.get(k)).toBe(k);
        for (const k of keysIn(m0.slots!, 20, "after-failover")) expect(await app!.set(k, "new")).toBe("OK");
    });

    test("no container logged the tunnel key or a password", async () => {
        const logs = scope.logs();
        expect(logs).toMatch(/Cluster state changed: ok/); // the logs were read
        const secrets = await stateSecrets(stack!);
        expect(Object.keys(secrets)).toEqual(expect.arrayContaining(["itgw-key.result"]));
        expectNoSecrets(logs, { ...secrets, key: gw.keyBase64 });
    });
});
