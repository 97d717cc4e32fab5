// The pure parts of backup/restore (components/backup/manifest.ts): the topology read from stack outputs, the manifest
// and SHA256SUMS checks, and the shape check a restore runs before it changes anything.
import {
    integrityProblems,
    inSlotOrder,
    Manifest,
    MANIFEST_FILE,
    parseManifest,
    parseSums,
    renderSums,
    rootMaster,
    sha256,
    shapeProblems,
    topologyFromOutputs,
} from "../../components/backup/manifest";

const admin = { username: "admin", password: "p".repeat(32) };
const clusterOut = {
    nodes: [
        { name: "c-m0", host: "local", ip: "10.0.0.10", port: 6379, role: "master", slots: [0, 5460] },
        { name: "c-m1", host: "local", ip: "10.0.0.16", port: 6379, role: "master", slots: [5461, 10922] },
        { name: "c-m2", host: "local", ip: "10.0.0.22", port: 6379, role: "master", slots: [10923, 16383] },
        { name: "c-m0-r0", host: "local", ip: "10.0.0.11", port: 6379, role: "replica", masterName: "c-m0" },
    ],
    nodeIds: {},
    tls: true,
    caCertPem: "CA",
    adminUser: admin,
};
const chainOut = {
    nodes: [
        { name: "ch-a", ip: "10.1.0.10", plainPort: 6379, tlsPort: 0 },
        {
            name: "ch-b",
            ip: "10.1.0.11",
            plainPort: 6379,
            tlsPort: 6380,
            replicaOf: { name: "ch-a", ip: "10.1.0.10", port: 6379, tls: false },
        },
        { name: "ch-c", ip: "10.1.0.12", plainPort: 0, tlsPort: 6380, replicaOf: { name: "ch-b", ip: "10.1.0.11", port: 6380, tls: true } },
    ],
    caCertPem: "CA",
    clientCertPem: "CERT",
    clientKeyPem: "KEY",
    adminUser: admin,
};

describe("topologyFromOutputs", () => {
    test("a RedisCluster's outputs: nodes over TLS with roles, masters and hosts", () => {
        const t = topologyFromOutputs({ cluster: clusterOut });
        expect(t.kind).toBe("cluster");
        expect(t.tls).toEqual({ ca: "CA", cert: undefined, key: undefined });
        expect(t.nodes[3]).toEqual({
            name: "c-m0-r0",
            ip: "10.0.0.11",
            port: 6379,
            tls: true,
            role: "replica",
            masterName: "c-m0",
            host: "local",
        });
    });

    test("a ReplicationChain's: the TLS port where a node has one, else plain; replicaOf makes a replica", () => {
        const t = topologyFromOutputs({ chain: chainOut });
        expect(t.kind).toBe("standalone");
        expect(t.nodes.map(n => [n.name, n.port, n.tls, n.role, n.masterName])).toEqual([
            ["ch-a", 6379, false, "master", undefined],
            ["ch-b", 6380, true, "replica", "ch-a"],
            ["ch-c", 6380, true, "replica", "ch-b"],
        ]);
        expect(t.tls).toEqual({ ca: "CA", cert: "CERT", key: "KEY" });
        expect(rootMaster(t, t.nodes[2]).name).toBe("ch-a");
    });

    test("a single node (LockQuorum-style port) and the key given with --output", () => {
        const t = topologyFromOutputs({ one: { nodes: [{ name: "s", ip: "10.2.0.10", port: 6379 }], adminUser: admin } }, "one");
        expect(t.nodes).toEqual([{ name: "s", ip: "10.2.0.10", port: 6379, tls: false, role: "master", masterName: undefined }]);
        expect(t.tls).toBeUndefined();
    });

    test("clear errors: no nodes, no adminUser (the chain output before it was exported), no CA for TLS nodes", () => {
        expect(() => topologyFromOutputs({ other: 1 })).toThrow(/the outputs has no nodes/);
        expect(() => topologyFromOutputs({ chain: { ...chainOut, adminUser: undefined } })).toThrow(
            /stack output "chain" has no adminUser/,
        );
        expect(() => topologyFromOutputs({ chain: { ...chainOut, caCertPem: undefined } })).toThrow(/TLS nodes but no caCertPem/);
        expect(() => topologyFromOutputs({ chain: { nodes: [{ name: "x", ip: "1.2.3.4" }], adminUser: admin } })).toThrow(
            /nodes\[0\] \(x\) has no port/,
        );
    });
});

const manifest = (over: Partial<Manifest> = {}): Manifest => ({
    format: 1,
    tool: "redis-secure-topologies",
    kind: "cluster",
    createdAt: "2026-12-03T00:00:00.000Z",
    masters: [
        { name: "c-m0", slots: [[0, 5460]], file: "c-m0.rdb" },
        { name: "c-m1", slots: [[5461, 10922]], file: "c-m1.rdb" },
        { name: "c-m2", slots: [[10923, 16383]], file: "c-m2.rdb" },
    ],
    files: { "c-m0.rdb": { bytes: 3 }, "c-m1.rdb": { bytes: 3 }, "c-m2.rdb": { bytes: 3 }, "plan.json": { bytes: 2 } },
    ...over,
});

describe("manifest and SHA256SUMS", () => {
    test("a manifest round-trips; a bad one is refused naming the field", () => {
        expect(parseManifest(JSON.stringify(manifest()))).toEqual(manifest());
        expect(() => parseManifest("{")).toThrow(/manifest.json is not JSON/);
        expect(() => parseManifest(JSON.stringify(manifest({ format: 2 as 1 })))).toThrow(/format 2 is not 1/);
        expect(() => parseManifest(JSON.stringify(manifest({ kind: "x" as "cluster" })))).toThrow(/kind must be/);
        expect(() => parseManifest(JSON.stringify(manifest({ masters: [] })))).toThrow(/masters must be a non-empty list/);
        expect(() => parseManifest(JSON.stringify(manifest({ masters: [{ name: "a", slots: [], file: "../etc/passwd" }] })))).toThrow(
            /plain file name/,
        );
        expect(() => parseManifest(JSON.stringify(manifest({ masters: [{ name: "a", slots: [], file: "a.rdb" }] })))).toThrow(
            /a.rdb is not listed in files/,
        );
        expect(() =>
            parseManifest(JSON.stringify(manifest({ masters: [{ name: "c-m0", slots: [[0, 16384]], file: "c-m0.rdb" }] }))),
        ).toThrow(/slots must be/);
    });

    test("SHA256SUMS is sha256sum's format, sorted, and parses back; a bad line or a path is refused", () => {
        const text = renderSums({ "b.rdb": sha256("b"), "a.json": sha256("a") });
        expect(text).toBe(`${sha256("a")}  a.json\n${sha256("b")}  b.rdb\n`);
        expect(parseSums(text)).toEqual({ "a.json": sha256("a"), "b.rdb": sha256("b") });
        expect(() => parseSums("abc  a.json\n")).toThrow(/line 1/);
        expect(() => parseSums(`${sha256("a")}  ../a.json\n`)).toThrow(/line 1/);
    });

    const files: Record<string, Buffer> = {
        [MANIFEST_FILE]: Buffer.from(JSON.stringify(manifest())),
        "c-m0.rdb": Buffer.from("m0!"),
        "c-m1.rdb": Buffer.from("m1!"),
        "c-m2.rdb": Buffer.from("m2!"),
        "plan.json": Buffer.from("{}"),
    };
    const sums = Object.fromEntries(Object.entries(files).map(([f, d]) => [f, sha256(d)]));

    test("an intact directory has no problem; a changed byte, a missing file or an unlisted one is named", () => {
        expect(integrityProblems(sums, f => files[f])).toEqual([]);
        expect(integrityProblems(sums, f => (f === "c-m1.rdb" ? Buffer.from("m1?") : files[f]))).toEqual([
            `c-m1.rdb is corrupt: its SHA-256 is ${sha256("m1?")}, SHA256SUMS says ${sums["c-m1.rdb"]}`,
        ]);
        expect(integrityProblems(sums, f => (f === "c-m2.rdb" ? undefined : files[f]))).toEqual(["c-m2.rdb is missing"]);
        const { "plan.json": _, ...fewer } = sums;
        expect(integrityProblems(fewer, f => files[f])).toEqual(["plan.json (in manifest.json) has no checksum in SHA256SUMS"]);
        const { [MANIFEST_FILE]: __, ...noManifest } = sums;
        expect(integrityProblems(noManifest, f => files[f])).toEqual(["SHA256SUMS does not list manifest.json"]);
    });
});

describe("shape check", () => {
    const live = [
        { name: "n-m0", slots: [[0, 5460]] as [number, number][] },
        { name: "n-m1", slots: [[5461, 10922]] as [number, number][] },
        { name: "n-m2", slots: [[10923, 16383]] as [number, number][] },
    ];

    test("the same masters and slots: nothing against it", () => {
        expect(shapeProblems(manifest(), "cluster", live)).toEqual([]);
    });

    test("another number of masters, another kind, or other slots are refused, naming them", () => {
        expect(shapeProblems(manifest(), "cluster", live.slice(0, 2))).toEqual([
            "the backup has 3 masters, the target has 2: restore needs the same number of masters",
        ]);
        expect(shapeProblems(manifest(), "standalone", live)).toEqual([
            "the backup is of a cluster topology, the target is a standalone one",
        ]);
        const moved = [
            live[0],
            { name: "n-m1", slots: [[5461, 10921]] as [number, number][] },
            { name: "n-m2", slots: [[10922, 16383]] as [number, number][] },
        ];
        expect(shapeProblems(manifest(), "cluster", moved)).toEqual([
            "master 2 (c-m1 in the backup, n-m1 in the target) served slots 5461-10922, the target's serves 5461-10921",
            "master 3 (c-m2 in the backup, n-m2 in the target) served slots 10923-16383, the target's serves 10922-16383",
        ]);
    });

    test("standalone: masters in plan order, no slots", () => {
        const m = manifest({ kind: "standalone", masters: [{ name: "ch-a", slots: [], file: "c-m0.rdb" }] });
        expect(shapeProblems(m, "standalone", [{ name: "x-a", slots: [] }])).toEqual([]);
        expect(
            shapeProblems(m, "standalone", [
                { name: "x-a", slots: [] },
                { name: "x-b", slots: [] },
            ]),
        ).toHaveLength(1);
    });

    test("live masters go in slot order (a failed-over shard's master sorts by its slots, not its name)", () => {
        expect(inSlotOrder([live[2], { name: "c-m0-r0", slots: [[0, 5460]] }, live[1]]).map(m => m.name)).toEqual([
            "c-m0-r0",
            "n-m1",
            "n-m2",
        ]);
    });
});
