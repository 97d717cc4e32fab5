// ClusterGateway's plan: ports, addresses, the natMap and validation, on RedisCluster plans (pure functions).
import { placeClusterNodes } from "../../components/cluster/plan";
import { GatewayShape, planGateway, tunnelIndexes } from "../../components/gateway/plan";

const cluster = (masters: number, replicasPerMaster: number, hosts: string[] = ["local"], subnet = "172.30.0.0/24") =>
    placeClusterNodes({ name: "c", masters, replicasPerMaster, hosts, subnet, port: 6379 });

const shape = (nodes = cluster(3, 1), o: Partial<GatewayShape> = {}): GatewayShape => ({
    name: "gw",
    nodes,
    clusterSubnets: { local: "172.30.0.0/24" },
    transitSubnets: { local: "172.31.2.0/24" },
    sameEngine: { local: true },
    gatewaySubnet: "172.31.3.0/24",
    basePort: 7000,
    serverPort: 8379,
    maxConnections: 100,
    keepalive: true,
    connectTimeoutSeconds: 5,
    ...o,
});
const after = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];

describe("planGateway", () => {
    test("a tunnel per node: listener basePort + the node's shard slot (6m, 6m + 1 + r), the same offset as its address", () => {
        const p = planGateway(shape());
        expect(p.tunnels.map(t => [t.node, t.index, t.listenPort, t.announced])).toEqual([
            ["c-m0", 0, 7000, "172.30.0.10:6379"],
            ["c-m1", 6, 7006, "172.30.0.16:6379"],
            ["c-m2", 12, 7012, "172.30.0.22:6379"],
            ["c-m0-r0", 1, 7001, "172.30.0.11:6379"],
            ["c-m1-r0", 7, 7007, "172.30.0.17:6379"],
            ["c-m2-r0", 13, 7013, "172.30.0.23:6379"],
        ]);
    });

    test("natMap: every announced address to its loopback listener; endpoints are the same listeners", () => {
        const p = planGateway(shape());
        expect(p.natMap).toEqual({
            "172.30.0.10:6379": { host: "127.0.0.1", port: 7000 },
            "172.30.0.16:6379": { host: "127.0.0.1", port: 7006 },
            "172.30.0.22:6379": { host: "127.0.0.1", port: 7012 },
            "172.30.0.11:6379": { host: "127.0.0.1", port: 7001 },
            "172.30.0.17:6379": { host: "127.0.0.1", port: 7007 },
            "172.30.0.23:6379": { host: "127.0.0.1", port: 7013 },
        });
        expect(p.endpoints).toEqual(p.tunnels.map(t => ({ node: t.node, ip: "127.0.0.1", port: t.listenPort })));
    });

    test("scaling never moves a tunnel: 3x1 -> 4x2 keeps every existing node's port and addresses, only adds", () => {
        const key = (t: { node: string; listenPort: number; serverNodeNetIp: string; serverTransitIp: string }) =>
            `${t.node} ${t.listenPort} ${t.serverNodeNetIp} ${t.serverTransitIp}`;
        const small = planGateway(shape(cluster(3, 1))).tunnels.map(key);
        const big = planGateway(shape(cluster(4, 2))).tunnels.map(key);
        expect(big).toEqual(expect.arrayContaining(small));
        expect(big).toHaveLength(12);
        expect(new Set(planGateway(shape(cluster(4, 2))).tunnels.map(t => t.listenPort)).size).toBe(12);
    });

    test("servers: fixed addresses from the top of the node subnet (clear of the nodes) and .10 + slot on the transit network", () => {
        const p = planGateway(shape());
        expect(p.tunnels.map(t => [t.node, t.serverNodeNetIp, t.serverTransitIp])).toEqual([
            ["c-m0", "172.30.0.254", "172.31.2.10"],
            ["c-m1", "172.30.0.248", "172.31.2.16"],
            ["c-m2", "172.30.0.242", "172.31.2.22"],
            ["c-m0-r0", "172.30.0.253", "172.31.2.11"],
            ["c-m1-r0", "172.30.0.247", "172.31.2.17"],
            ["c-m2-r0", "172.30.0.241", "172.31.2.23"],
        ]);
        const nodeIps = new Set(cluster(3, 1).map(n => n.ip));
        expect(p.tunnels.filter(t => nodeIps.has(t.serverNodeNetIp))).toEqual([]);
    });

    test("command lines: the server decrypts to its node's client port, the client encrypts to its server's transit address", () => {
        const t = planGateway(shape()).tunnels[1];
        expect(t.serverCommand.slice(0, 6)).toEqual(["spiped", "-d", "-s", "[0.0.0.0]:8379", "-t", "172.30.0.16:6379"]);
        expect(t.clientCommand.slice(0, 6)).toEqual(["spiped", "-e", "-s", "[0.0.0.0]:7006", "-t", "172.31.2.16:8379"]);
        for (const argv of [t.serverCommand, t.clientCommand])
            expect([after(argv, "-k"), argv.includes("-u"), after(argv, "-n")]).toEqual(["/etc/spiped/key", false, "100"]);
        expect([t.serverName, t.clientName, t.clientNetwork]).toEqual(["gw-c-m1-server", "gw-c-m1-client", "transit"]);
    });

    test("hosts on another engine: their clients sit on the gateway's own network and route to the transit address", () => {
        const nodes = cluster(3, 1, ["a", "b"]);
        const p = planGateway(
            shape(nodes, {
                clusterSubnets: { a: "172.30.0.0/24", b: "172.30.0.0/24" },
                transitSubnets: { a: "172.31.2.0/24", b: "172.31.4.0/24" },
                sameEngine: { a: true, b: false },
            }),
        );
        expect(p.gatewayNetwork).toBe(true);
        const byHost = (h: string) => [...new Set(p.tunnels.filter(t => t.host === h).map(t => t.clientNetwork))];
        expect([byHost("a"), byHost("b")]).toEqual([["transit"], ["gateway"]]);
        const b = p.tunnels.find(t => t.host === "b")!;
        expect(after(b.clientCommand, "-t")).toBe(`${b.serverTransitIp}:8379`);
        expect(b.serverTransitIp.startsWith("172.31.4.")).toBe(true);
        expect(planGateway(shape()).gatewayNetwork).toBe(false);
    });

    test("tunnelIndexes follows the plan's structure, not names", () => {
        expect([...tunnelIndexes(cluster(3, 2)).entries()]).toEqual([
            ["c-m0", 0],
            ["c-m1", 6],
            ["c-m2", 12],
            ["c-m0-r0", 1],
            ["c-m0-r1", 2],
            ["c-m1-r0", 7],
            ["c-m1-r1", 8],
            ["c-m2-r0", 13],
            ["c-m2-r1", 14],
        ]);
    });
});

describe("planGateway validation names the field", () => {
    test.each<[string, Partial<GatewayShape>, RegExp]>([
        ["basePort below 1024", { basePort: 80 }, /^basePort must be an integer from 1024 to 65522; got 80$/],
        ["basePort whose range passes 65535", { basePort: 65530 }, /^basePort must be an integer from 1024 to 65522; got 65530$/],
        ["basePort not an integer", { basePort: 7000.5 }, /^basePort must be an integer/],
        ["serverPort out of range", { serverPort: 70000 }, /^serverPort must be an integer from 1 to 65535/],
        ["a bad transit subnet", { transitSubnets: { local: "10.0.0.0/8" } }, /^subnets\.local must be an IPv4 subnet/],
        [
            "a transit subnet over the node subnet",
            { transitSubnets: { local: "172.30.0.0/24" } },
            /^subnets\.local must be a subnet that does not overlap cluster \(host local\)/,
        ],
        ["maxConnections", { maxConnections: 0 }, /^maxConnections must be an integer from 1 to 10000/],
        ["connectTimeoutSeconds", { connectTimeoutSeconds: 0 }, /^connectTimeoutSeconds must be an integer from 1 to 300/],
        ["keepalive as a string", { keepalive: "yes" as unknown as boolean }, /^keepalive must be true or false/],
        ["a bad name", { name: "GW" }, /^name must be lower-case letters/],
    ])("%s", (_case, o, message) => {
        expect(() => planGateway(shape(cluster(3, 1), o))).toThrow(message);
    });

    test("the range is checked against the cluster's top slot: 4x2 refuses what 3x1 takes", () => {
        expect(planGateway(shape(cluster(3, 1), { basePort: 65522 })).tunnels.at(-1)!.listenPort).toBe(65535);
        expect(() => planGateway(shape(cluster(4, 2), { basePort: 65522 }))).toThrow(
            /^basePort must be an integer from 1024 to 65515; got 65522$/,
        );
    });

    test("a node subnet without room for a server beside each node is refused, naming the cluster", () => {
        // 21 shards in a /24: nodes up to .10 + 6 x 20 + 1 = .131, servers down to .254 - 121 = .133: fits; 22 do not.
        expect(planGateway(shape(cluster(21, 1))).tunnels).toHaveLength(42);
        expect(() => planGateway(shape(cluster(22, 1)))).toThrow(
            /^cluster must be a cluster whose node subnet has room for a spiped server beside each node .* fits 21 masters of 1 replicas with the gateway/,
        );
    });

    test("a multi-host cluster needs the gateway's own subnet clear of the others when a host is elsewhere", () => {
        const nodes = cluster(3, 1, ["a", "b"]);
        const o = {
            clusterSubnets: { a: "172.30.0.0/24", b: "172.30.0.0/24" },
            transitSubnets: { a: "172.31.2.0/24", b: "172.31.4.0/24" },
            sameEngine: { a: true, b: false },
        };
        expect(() => planGateway(shape(nodes, { ...o, gatewaySubnet: "172.31.4.0/24" }))).toThrow(
            /^gatewaySubnet must be a subnet that does not overlap subnets\.b/,
        );
        expect(() => planGateway(shape(nodes, { ...o, transitSubnets: { a: "172.31.2.0/24", b: "172.31.2.0/24" } }))).toThrow(
            /^subnets\.b must be a subnet that does not overlap subnets\.a/,
        );
    });
});
