// The pure plans every component is built from: cluster slots and placement, the replication chain's listeners,
// and the spiped command lines.
import { ClusterShape, hostSubnets, placeClusterNodes, PlannedNode, SLOT_COUNT, slotRanges } from "../../components/cluster/plan";
import { placeChainNodes } from "../../components/replication/plan";
import { clientCommand, KEY_BYTES, serverCommand, TunnelShape } from "../../components/spiped/plan";

const shape: ClusterShape = { name: "rc", masters: 3, replicasPerMaster: 1, hosts: ["local"], subnet: "172.30.0.0/24", port: 6379 };

describe("slotRanges", () => {
    test("3 masters split like redis-cli", () => {
        expect(slotRanges(3)).toEqual([
            [0, 5460],
            [5461, 10922],
            [10923, 16383],
        ]);
    });

    test.each(Array.from({ length: 48 }, (_, i) => i + 3))("%i masters cover 0..16383 exactly, contiguous and balanced", n => {
        const ranges = slotRanges(n);
        expect(ranges).toHaveLength(n);
        expect(ranges[0][0]).toBe(0);
        expect(ranges[n - 1][1]).toBe(SLOT_COUNT - 1);
        ranges.forEach(([a, b], i) => {
            expect(b).toBeGreaterThanOrEqual(a);
            if (i > 0) expect(a).toBe(ranges[i - 1][1] + 1);
        });
        const sizes = ranges.map(([a, b]) => b - a + 1);
        expect(sizes.reduce((s, x) => s + x, 0)).toBe(SLOT_COUNT);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    });
});

describe("placeClusterNodes", () => {
    const hostOf = (nodes: PlannedNode[]) => new Map(nodes.map(n => [n.name, n.host]));

    test("the default 3 x 1: static IPs 6 apart per shard, masters with slots, replicas with their master", () => {
        const nodes = placeClusterNodes(shape);
        expect(nodes.map(n => [n.name, n.ip, n.role, n.masterName, n.slots])).toEqual([
            ["rc-m0", "172.30.0.10", "master", undefined, [0, 5460]],
            ["rc-m1", "172.30.0.16", "master", undefined, [5461, 10922]],
            ["rc-m2", "172.30.0.22", "master", undefined, [10923, 16383]],
            ["rc-m0-r0", "172.30.0.11", "replica", "rc-m0", undefined],
            ["rc-m1-r0", "172.30.0.17", "replica", "rc-m1", undefined],
            ["rc-m2-r0", "172.30.0.23", "replica", "rc-m2", undefined],
        ]);
        for (const n of nodes) {
            expect(n).toMatchObject({ host: "local", port: 6379, busPort: 16379 });
        }
    });

    test("the bus port follows the port", () => {
        expect(placeClusterNodes({ ...shape, port: 7000 }).map(n => [n.port, n.busPort])).toEqual(Array(6).fill([7000, 17000]));
    });

    test("3 hosts, 3 x 2: masters spread over the hosts, no replica on its master's host", () => {
        const nodes = placeClusterNodes({ ...shape, replicasPerMaster: 2, hosts: ["h1", "h2", "h3"] });
        expect(nodes).toHaveLength(9);
        expect(nodes.filter(n => n.role === "master").map(n => n.host)).toEqual(["h1", "h2", "h3"]);
        const host = hostOf(nodes);
        const replicas = nodes.filter(n => n.role === "replica");
        expect(replicas).toHaveLength(6);
        for (const r of replicas) expect(r.host).not.toBe(host.get(r.masterName!));
        // The two replicas of one master land on the two other hosts.
        expect(
            replicas
                .filter(r => r.masterName === "rc-m0")
                .map(r => r.host)
                .sort(),
        ).toEqual(["h2", "h3"]);
    });

    test.each<[number, number, string[]]>([
        [3, 3, ["h1", "h2"]],
        [5, 5, ["a", "b", "c"]],
        [5, 2, ["a", "b", "c", "d", "e", "f", "g"]],
    ])("%i masters x %i replicas on %j: a replica never shares its master's host", (masters, replicasPerMaster, hosts) => {
        const nodes = placeClusterNodes({ ...shape, masters, replicasPerMaster, hosts });
        expect(nodes).toHaveLength(masters * (1 + replicasPerMaster));
        const host = hostOf(nodes);
        for (const r of nodes.filter(n => n.role === "replica")) {
            expect(hosts).toContain(r.host);
            expect(r.host).not.toBe(host.get(r.masterName!));
        }
    });

    test("scaling masters or replicas never moves a node: a node in both plans keeps its address", () => {
        for (const [from, to] of [
            [
                [3, 1],
                [4, 1],
            ],
            [
                [4, 1],
                [3, 1],
            ],
            [
                [3, 1],
                [3, 2],
            ],
            [
                [3, 0],
                [7, 5],
            ],
            [
                [10, 2],
                [3, 1],
            ],
        ]) {
            const before = new Map(placeClusterNodes({ ...shape, masters: from[0], replicasPerMaster: from[1] }).map(n => [n.name, n.ip]));
            const after = placeClusterNodes({ ...shape, masters: to[0], replicasPerMaster: to[1] });
            const kept = after.filter(n => before.has(n.name));
            expect(kept.length).toBe(Math.min(from[0], to[0]) * (1 + Math.min(from[1], to[1])));
            for (const n of kept) expect([n.name, n.ip]).toEqual([n.name, before.get(n.name)]);
            // Added nodes never take an address an old node still holds.
            const oldIps = new Set(before.values());
            for (const n of after.filter(a => !before.has(a.name))) expect(oldIps.has(n.ip)).toBe(false);
        }
    });

    test("replicas of each round of masters take other hosts than the last round's: 6 x 1 on 4 hosts puts 3 nodes on each", () => {
        const hosts = ["h0", "h1", "h2", "h3"];
        const count = (nodes: ReturnType<typeof placeClusterNodes>) => hosts.map(h => nodes.filter(n => n.host === h).length);
        expect(count(placeClusterNodes({ ...shape, masters: 6, replicasPerMaster: 1, hosts }))).toEqual([3, 3, 3, 3]);
        // 9 x 2 on 6 hosts: 27 nodes, 4 or 5 on each (3 to 6 when every round of replicas took the same hosts).
        const six = ["a", "b", "c", "d", "e", "f"];
        const nine = placeClusterNodes({ ...shape, masters: 9, replicasPerMaster: 2, hosts: six });
        expect(six.map(h => nine.filter(n => n.host === h).length).sort()).toEqual([4, 4, 4, 5, 5, 5]);
        // A master's replicas on distinct hosts, none on the master's own.
        for (const m of nine.filter(n => n.role === "master")) {
            const on = nine.filter(n => n.masterName === m.name).map(n => n.host);
            expect(new Set([m.host, ...on]).size).toBe(3);
        }
    });

    test("scaling never moves a node to another host either", () => {
        const hosts = ["h0", "h1", "h2", "h3"];
        const plan = (masters: number, replicasPerMaster: number) => placeClusterNodes({ ...shape, masters, replicasPerMaster, hosts });
        for (const [from, to] of [
            [
                [5, 1],
                [9, 1],
            ],
            [
                [9, 2],
                [6, 1],
            ],
            [
                [3, 1],
                [13, 3],
            ],
        ]) {
            const before = new Map(plan(from[0], from[1]).map(n => [n.name, n.host]));
            for (const n of plan(to[0], to[1]).filter(a => before.has(a.name)))
                expect([n.name, n.host]).toEqual([n.name, before.get(n.name)]);
        }
    });

    test("every node gets a distinct address inside the subnet", () => {
        const nodes = placeClusterNodes({ ...shape, masters: 40, replicasPerMaster: 5 });
        const ips = nodes.map(n => n.ip);
        expect(new Set(ips).size).toBe(nodes.length);
        for (const ip of ips) {
            const octets = ip.split(".").map(Number);
            expect(octets.slice(0, 3)).toEqual([172, 30, 0]);
            expect(octets[3]).toBeGreaterThanOrEqual(10);
            expect(octets[3]).toBeLessThanOrEqual(254);
        }
    });
});

describe("placeClusterNodes: a subnet per host", () => {
    const three = [1, 2, 3].map(i => ({ name: `h${i}`, subnet: `172.26.${i}.0/24` }));

    test("3 x 1 on 3 hosts: every node in its host's subnet, at its shard's address (.10 + 6m, replicas after)", () => {
        const nodes = placeClusterNodes({ ...shape, hosts: three });
        expect(nodes.map(n => [n.name, n.host, n.ip])).toEqual([
            ["rc-m0", "h1", "172.26.1.10"],
            ["rc-m1", "h2", "172.26.2.16"],
            ["rc-m2", "h3", "172.26.3.22"],
            ["rc-m0-r0", "h2", "172.26.2.11"],
            ["rc-m1-r0", "h3", "172.26.3.17"],
            ["rc-m2-r0", "h1", "172.26.1.23"],
        ]);
        expect(hostSubnets({ ...shape, hosts: three })).toEqual({ h1: "172.26.1.0/24", h2: "172.26.2.0/24", h3: "172.26.3.0/24" });
    });

    test("hosts without their own subnet share `subnet` and its address range; plain names plan as before", () => {
        const mixed = placeClusterNodes({ ...shape, hosts: [{ name: "a", subnet: "172.26.9.0/24" }, "b", { name: "c" }] });
        expect(mixed.map(n => [n.host, n.ip])).toEqual([
            ["a", "172.26.9.10"],
            ["b", "172.30.0.16"],
            ["c", "172.30.0.22"],
            ["b", "172.30.0.11"],
            ["c", "172.30.0.17"],
            ["a", "172.26.9.23"],
        ]);
        const names = placeClusterNodes({ ...shape, hosts: ["a", "b", "c"] });
        expect(placeClusterNodes({ ...shape, hosts: [{ name: "a" }, { name: "b" }, { name: "c" }] })).toEqual(names);
        expect(names.map(n => n.ip)).toEqual(["10", "16", "22", "11", "17", "23"].map(x => `172.30.0.${x}`));
    });

    test("addresses are per shard in every host's subnet, so 100 x 5 needs /22s even on 3 hosts", () => {
        const big = three.map((h, i) => ({ ...h, subnet: `172.26.${4 * (i + 1)}.0/22` }));
        const nodes = placeClusterNodes({ ...shape, masters: 100, replicasPerMaster: 5, hosts: big });
        expect(big.map(h => nodes.filter(n => n.host === h.name).length)).toEqual([199, 200, 201]);
        expect(new Set(nodes.map(n => n.ip)).size).toBe(600);
        expect(() => placeClusterNodes({ ...shape, masters: 100, replicasPerMaster: 5, hosts: three })).toThrow(
            /hosts\[0\]\.subnet must be large enough for 100 shards of 6 addresses \(600\)/,
        );
        for (const n of nodes)
            expect(big.find(h => h.name === n.host)!.subnet.startsWith(n.ip.split(".").slice(0, 2).join("."))).toBe(true);
    });
});

describe("placeClusterNodes: losing any one host", () => {
    const hostNames = (k: number) => Array.from({ length: k }, (_, i) => `h${i}`);
    const shapes: [number, number, number][] = [];
    for (let hosts = 3; hosts <= 7; hosts++) {
        for (let masters = 3; masters <= 40; masters++) {
            for (const replicasPerMaster of [1, 2]) if (!(masters === 4 && hosts === 3)) shapes.push([masters, replicasPerMaster, hosts]);
        }
    }

    test.each(shapes)(
        "%i masters x %i on %i hosts: a majority of masters survives, and a replica of every lost master",
        (masters, replicasPerMaster, k) => {
            const nodes = placeClusterNodes({ ...shape, masters, replicasPerMaster, hosts: hostNames(k), subnet: "172.30.0.0/16" });
            for (const lost of hostNames(k)) {
                const mastersLeft = nodes.filter(n => n.role === "master" && n.host !== lost);
                expect(mastersLeft.length * 2).toBeGreaterThan(masters);
                for (const m of nodes.filter(n => n.role === "master" && n.host === lost)) {
                    expect(nodes.some(r => r.masterName === m.name && r.host !== lost)).toBe(true);
                }
            }
        },
    );

    test("4 masters on 3 hosts (2 would share one host: half) is refused, naming masters", () => {
        expect(() => placeClusterNodes({ ...shape, masters: 4, hosts: hostNames(3) })).toThrow(
            /^masters must be a count that leaves a majority when any one host is lost \(2 of 4 would share one of 3 hosts\); got 4$/,
        );
        expect(placeClusterNodes({ ...shape, masters: 4, hosts: hostNames(4) })).toHaveLength(8);
        // 2 hosts cannot survive either loss; not refused.
        expect(placeClusterNodes({ ...shape, masters: 4, hosts: hostNames(2) })).toHaveLength(8);
    });
});

describe("placeChainNodes", () => {
    const seed = {
        name: "ch",
        hops: ["plain", "tls"] as ("plain" | "tls")[],
        headListener: "plain" as const,
        plainPort: 6379,
        tlsPort: 6380,
        subnet: "172.31.0.0/24",
    };

    test("the seed: A plain, B plain + TLS, C TLS only; C replicates B over TLS on 6380", () => {
        const nodes = placeChainNodes(seed);
        expect(nodes.map(n => n.name)).toEqual(["ch-a", "ch-b", "ch-c"]);
        expect(nodes.map(n => n.ip)).toEqual(["172.31.0.10", "172.31.0.11", "172.31.0.12"]);
        expect(nodes.map(n => [n.plainPort, n.tlsPort])).toEqual([
            [6379, 0],
            [6379, 6380],
            [0, 6380],
        ]);
        expect(nodes[0].replicaOf).toBeUndefined();
        expect(nodes[1].replicaOf).toEqual({ name: "ch-a", ip: "172.31.0.10", port: 6379, tls: false });
        expect(nodes[2].replicaOf).toEqual({ name: "ch-b", ip: "172.31.0.11", port: 6380, tls: true });
    });

    test("TLS everywhere: every node TLS only, every hop over TLS", () => {
        const nodes = placeChainNodes({ ...seed, hops: ["tls", "tls", "tls"], headListener: "tls" });
        expect(nodes.map(n => [n.plainPort, n.tlsPort])).toEqual(Array(4).fill([0, 6380]));
        expect(nodes.slice(1).map(n => [n.replicaOf!.port, n.replicaOf!.tls])).toEqual(Array(3).fill([6380, true]));
    });

    test("a TLS head with a plain hop: the master listens on both", () => {
        const nodes = placeChainNodes({ ...seed, hops: ["plain"], headListener: "tls" });
        expect(nodes.map(n => [n.plainPort, n.tlsPort])).toEqual([
            [6379, 6380],
            [6379, 0],
        ]);
        expect(nodes[1].replicaOf).toMatchObject({ port: 6379, tls: false });
    });
});

describe("spiped command lines", () => {
    const tunnel: TunnelShape = {
        name: "tun",
        targetHost: "redis",
        targetPort: 6379,
        serverPort: 8379,
        listenAddress: "127.0.0.1",
        listenPort: 6390,
        allowNonLoopbackListener: false,
        maxConnections: 25,
        keepalive: true,
        connectTimeoutSeconds: 7,
        keyBytes: KEY_BYTES,
    };
    /** The value following `flag` in `argv`. */
    const after = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];

    test("server decrypts on the server port and forwards to the target", () => {
        const argv = serverCommand(tunnel);
        expect(argv[0]).toBe("spiped");
        expect(argv).toContain("-d");
        expect(argv).not.toContain("-e");
        expect(after(argv, "-s")).toBe("[0.0.0.0]:8379");
        expect(after(argv, "-t")).toBe("redis:6379");
    });

    test("client encrypts on the listen port towards the server container", () => {
        const argv = clientCommand(tunnel, "tun-server");
        expect(argv[0]).toBe("spiped");
        expect(argv).toContain("-e");
        expect(argv).not.toContain("-d");
        expect(after(argv, "-s")).toBe("[0.0.0.0]:6390");
        expect(after(argv, "-t")).toBe("tun-server:8379");
    });

    test.each([
        ["server", (s: TunnelShape) => serverCommand(s)],
        ["client", (s: TunnelShape) => clientCommand(s, "tun-server")],
    ])("%s: key file, connection limit, timeout, foreground; -j only without keepalive", (_side, command) => {
        const argv = command(tunnel);
        expect(after(argv, "-k")).toBe("/etc/spiped/key");
        expect(argv).not.toContain("-u"); // the container runs as nobody already
        expect(after(argv, "-n")).toBe("25");
        expect(after(argv, "-o")).toBe("7");
        expect(argv).toContain("-F");
        expect(argv).not.toContain("-j");
        expect(command({ ...tunnel, keepalive: false })).toContain("-j");
    });
});
