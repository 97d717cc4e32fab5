// converge()'s planners on CLUSTER NODES texts recorded from a real cluster (test/unit/fixtures/cluster-nodes).
import * as fs from "fs";
import * as path from "path";
import { ClusterNodeView, parseClusterNodes } from "../../components/redis/wire";
import { slotRanges } from "../../components/cluster/plan";
import { slotMoves, slotOwners } from "../../components/cluster/slots";
import {
    BootstrapNode,
    failbacks,
    forgets,
    freshNodes,
    hasLiveReplica,
    meetsNeeded,
    meshComplete,
    openSlots,
    plannedOwners,
    removalCandidates,
    replicaFixes,
    replicaLinked,
    self,
    Snapshot,
    slotMapAgreement,
    slotsOwnedBy,
    slotsToAdd,
    Target,
    unplannedNodes,
} from "../../components/cluster/snapshot";

const recorded = (file: string) =>
    parseClusterNodes(fs.readFileSync(path.join(__dirname, "fixtures/cluster-nodes", `${file}.txt`), "utf8"));

/** The node ids of the recorded cluster. */
const id = {
    "itar-m0": "38714d4c3ca8017d97d752609b22b49d9648ccbc",
    "itar-m1": "feaedde3f7fae176aea9f0d03903d82c086e92dd",
    "itar-m2": "1f92a24eca9bcc8bb09063ff3785d6999dd2e8d1",
    "itar-m0-r0": "b2c94c5da44c2a16d271faf1f590a465cde118b8",
    "itar-m1-r0": "d8b8ced370e72879588b40f960e3dc7d1e9875df",
    "itar-m2-r0": "8b20e12701db33678b1d5bd4b9b0eed98fb4233e",
} as const;
type Name = keyof typeof id;
const ips: Record<Name, string> = {
    "itar-m0": "172.25.110.10",
    "itar-m1": "172.25.110.16",
    "itar-m2": "172.25.110.22",
    "itar-m0-r0": "172.25.110.11",
    "itar-m1-r0": "172.25.110.17",
    "itar-m2-r0": "172.25.110.23",
};

/** The plan the cluster was recorded from (3 masters, 1 replica each), restricted to `names`. */
function target(names: Name[] = Object.keys(id) as Name[]): Target {
    const ranges = slotRanges(3);
    const nodes: BootstrapNode[] = names.map(name => {
        const m = Number(name[6]);
        const common = { name, ip: ips[name], port: 6379, busPort: 16379 };
        return name.endsWith("-r0")
            ? { ...common, role: "replica", masterName: `itar-m${m}` }
            : { ...common, role: "master", slots: ranges[m] };
    });
    return { nodes, ids: Object.fromEntries(names.map(n => [n, id[n]])) };
}

/** The same (agreed) view as node `who` prints it: the myself flag on its own line. */
function as(view: ClusterNodeView[], who: Name): ClusterNodeView[] {
    return view.map(v => ({ ...v, flags: [...v.flags.filter(f => f !== "myself"), ...(v.id === id[who] ? ["myself"] : [])] }));
}

/** A snapshot of the planned nodes of `t`: each node's view is `views[name]`, else `base` as that node prints it. */
function snapshot(t: Target, base: ClusterNodeView[], views: Partial<Record<Name, ClusterNodeView[]>> = {}): Snapshot {
    return new Map(t.nodes.map(n => [t.ids[n.name], views[n.name as Name] ?? as(base, n.name as Name)]));
}

/** Node `who` alone, as it prints itself before any MEET (its line from `view`, without slots when `bare`). */
function alone(view: ClusterNodeView[], who: Name, bare = false): ClusterNodeView[] {
    return as(view, who)
        .filter(v => v.id === id[who])
        .map(v => ({ ...v, slots: bare ? [] : v.slots }));
}

describe("recorded CLUSTER NODES", () => {
    test("parse into six nodes, a replica naming its master, open slots on their own node's line", () => {
        const healthy = recorded("healthy-m0");
        expect(healthy).toHaveLength(6);
        expect(self(healthy)).toMatchObject({ id: id["itar-m0"], ip: "172.25.110.10", port: 6379, slots: [[0, 5460]] });
        expect(healthy.find(v => v.id === id["itar-m0-r0"])).toMatchObject({ flags: ["slave"], masterId: id["itar-m0"], connected: true });
        expect(self(recorded("open-m0")).openSlots).toEqual([{ slot: 100, migratingTo: id["itar-m1"] }]);
        expect(self(recorded("open-m1")).openSlots).toEqual([{ slot: 100, importingFrom: id["itar-m0"] }]);
        expect(recorded("fresh-m0")).toEqual([
            expect.objectContaining({ id: id["itar-m0"], ip: "", flags: ["myself", "master"], slots: [] }),
        ]);
    });

    test("self throws on a view without a myself line", () => {
        expect(() => self(recorded("healthy-m0").slice(0, 5))).toThrow("CLUSTER NODES has no line flagged myself");
    });
});

describe("a cluster being created", () => {
    const t = target(["itar-m0", "itar-m1", "itar-m2"]);
    const healthy = recorded("healthy-m0");

    test("freshNodes: a node that knows nobody gets the epoch of its place in the plan; known nodes get none", () => {
        expect(freshNodes(t, snapshot(t, healthy, { "itar-m0": recorded("fresh-m0") }))).toEqual([{ name: "itar-m0", epoch: 1 }]);
        expect(freshNodes(t, snapshot(t, healthy, { "itar-m2": alone(healthy, "itar-m2", true) }))).toEqual([
            { name: "itar-m2", epoch: 3 },
        ]);
        expect(freshNodes(t, snapshot(t, healthy))).toEqual([]);
    });

    test("meetsNeeded: after m0 met m1, both still meet m2 (each pair once, the earlier node asks)", () => {
        const snap = snapshot(t, healthy, {
            "itar-m0": recorded("meeting-m0"),
            "itar-m1": recorded("meeting-m1"),
            "itar-m2": alone(healthy, "itar-m2"),
        });
        expect(meetsNeeded(t, snap).map(m => [m.name, m.peer.name])).toEqual([
            ["itar-m0", "itar-m2"],
            ["itar-m1", "itar-m2"],
        ]);
        expect(meetsNeeded(t, snapshot(t, healthy))).toEqual([]);
    });

    test("slotsToAdd: masters whose planned range nobody owns in any view add it; owned slots are left alone", () => {
        const snap = snapshot(t, healthy, {
            "itar-m0": recorded("fresh-m0"),
            "itar-m1": recorded("meeting-m1"),
            "itar-m2": alone(healthy, "itar-m2", true),
        });
        expect(slotsToAdd(t, snap)).toEqual([
            { name: "itar-m0", ranges: [[0, 5460]] },
            { name: "itar-m2", ranges: [[10923, 16383]] },
        ]);
        // m0's own view (meeting) already shows its slots: only m2's are missing.
        expect(
            slotsToAdd(
                t,
                snapshot(t, healthy, {
                    "itar-m0": recorded("meeting-m0"),
                    "itar-m1": recorded("meeting-m1"),
                    "itar-m2": alone(healthy, "itar-m2", true),
                }),
            ),
        ).toEqual([{ name: "itar-m2", ranges: [[10923, 16383]] }]);
        expect(slotsToAdd(t, snapshot(t, healthy))).toEqual([]);
    });

    test("meshComplete: true on the healthy cluster; else the first node and whom it does not see", () => {
        expect(meshComplete(t, snapshot(t, healthy))).toBe(true);
        expect(meshComplete(t, snapshot(t, healthy, { "itar-m0": recorded("meeting-m0") }))).toBe("itar-m0 does not see itar-m2 yet");
        const all = target();
        expect(meshComplete(all, snapshot(all, recorded("lost-replica-m0")))).toBe("itar-m0 does not see itar-m2-r0 yet");
    });
});

describe("roles", () => {
    const t = target();

    test("failbacks: a planned master that is its replica's replica asks for a failover; nothing on a healthy cluster", () => {
        const failed = recorded("failedover-m1");
        const snap = snapshot(t, failed, { "itar-m0": recorded("failedover-m0"), "itar-m0-r0": recorded("failedover-r0") });
        expect(failbacks(t, snap)).toEqual(["itar-m0"]);
        // The promoted replica owns slots: it is not pointed back at m0 (the failback restores it).
        expect(replicaFixes(t, snap)).toEqual([]);
        expect(failbacks(t, snapshot(t, recorded("healthy-m0")))).toEqual([]);
    });

    test("replicaFixes: a planned replica that is a master without slots, or follows another node, replicates its planned master", () => {
        const healthy = recorded("healthy-m0");
        expect(replicaFixes(t, snapshot(t, healthy))).toEqual([]);
        const wrongMaster = as(healthy, "itar-m1-r0").map(v => (v.id === id["itar-m1-r0"] ? { ...v, masterId: id["itar-m2"] } : v));
        const snap = snapshot(t, healthy, {
            "itar-m0-r0": alone(healthy, "itar-m0-r0").map(v => ({ ...v, flags: ["myself", "master"], masterId: undefined })),
            "itar-m1-r0": wrongMaster,
        });
        expect(replicaFixes(t, snap)).toEqual([
            { name: "itar-m0-r0", masterName: "itar-m0", masterId: id["itar-m0"] },
            { name: "itar-m1-r0", masterName: "itar-m1", masterId: id["itar-m1"] },
        ]);
    });

    test("replicaLinked: a replica with its master link up; else its role and link", () => {
        expect(replicaLinked("r", { role: "slave", master_link_status: "up" })).toBe(true);
        expect(replicaLinked("r", { role: "slave", master_link_status: "down" })).toBe("r: role slave, master link down");
        expect(replicaLinked("r", { role: "master" })).toBe("r: role master, master link undefined");
    });
});

describe("nodes the plan does not have", () => {
    test("a lost replica: unplanned, probed (its address is no planned one), owns nothing, so every planned node forgets it", () => {
        const t = target(["itar-m0", "itar-m1", "itar-m2", "itar-m0-r0", "itar-m1-r0"]);
        const snap = snapshot(t, recorded("lost-replica-m0"));
        const unplanned = unplannedNodes(t, snap);
        expect([...unplanned.keys()]).toEqual([id["itar-m2-r0"]]);
        expect(removalCandidates(t, unplanned).map(v => v.ip)).toEqual(["172.25.110.23"]);
        const ghosts = new Set(unplanned.keys());
        expect(slotsOwnedBy(t, snap, ghosts).size).toBe(0);
        expect(hasLiveReplica(t, snap, ghosts)).toBe(false);
        expect(forgets(t, snap, ghosts)).toEqual(t.nodes.map(n => ({ name: n.name, id: id["itar-m2-r0"] })));
    });

    test("a lost master with a failed replica: its slots are stranded and no replica can take them over", () => {
        const t = target(["itar-m0", "itar-m1", "itar-m0-r0", "itar-m1-r0"]);
        const snap = snapshot(t, recorded("lost-master-m0"));
        const ghosts = new Set(unplannedNodes(t, snap).keys());
        expect(ghosts).toEqual(new Set([id["itar-m2"], id["itar-m2-r0"]]));
        expect([...slotsOwnedBy(t, snap, ghosts)]).toEqual([[id["itar-m2"], Array.from({ length: 16384 - 10923 }, (_, i) => 10923 + i)]]);
        expect(hasLiveReplica(t, snap, ghosts)).toBe(false);
        expect(forgets(t, snap, ghosts)).toHaveLength(8);
    });

    test("a master the plan dropped whose replica is alive: the replica may take over its slots", () => {
        const t = target(["itar-m0", "itar-m1", "itar-m0-r0", "itar-m1-r0", "itar-m2-r0"]);
        const snap = snapshot(t, recorded("healthy-m0"));
        expect(hasLiveReplica(t, snap, new Set([id["itar-m2"]]))).toBe(true);
    });

    test("removalCandidates: an old id at a planned address (a recreated container) is not probed", () => {
        const t = target(["itar-m0", "itar-m1", "itar-m0-r0", "itar-m1-r0"]);
        const unplanned = unplannedNodes(t, snapshot(t, recorded("lost-master-m0")));
        const recreated = {
            ...t,
            nodes: [...t.nodes, { name: "itar-new", ip: "172.25.110.22", port: 6379, busPort: 16379, role: "master" as const }],
        };
        expect(removalCandidates(recreated, unplanned).map(v => v.ip)).toEqual(["172.25.110.23"]);
        expect(removalCandidates(t, unplanned).map(v => v.ip)).toEqual(["172.25.110.22", "172.25.110.23"]);
    });
});

describe("slots", () => {
    const t = target();
    const name = (i: string) => Object.entries(id).find(([, v]) => v === i)?.[0] ?? i;

    test("plannedOwners: the plan's slot map is the recorded healthy cluster's", () => {
        expect(plannedOwners(t)).toEqual(slotOwners(recorded("healthy-m0")));
    });

    test("openSlots + slotMoves: a slot left migrating m0 -> m1 is closed on both, its keys going to m0", () => {
        const snap: Snapshot = new Map([
            [id["itar-m0"], recorded("open-m0")],
            [id["itar-m1"], recorded("open-m1")],
            [id["itar-m0-r0"], as(recorded("healthy-m0"), "itar-m0-r0")],
        ]);
        const { masters, open } = openSlots(snap);
        expect(masters).toEqual([id["itar-m0"], id["itar-m1"]]);
        expect(open).toEqual([
            { id: id["itar-m0"], slot: 100, migratingTo: id["itar-m1"] },
            { id: id["itar-m1"], slot: 100, importingFrom: id["itar-m0"] },
        ]);
        const live = { owners: slotOwners(recorded("open-m0")), open, holders: new Map([[100, [id["itar-m1"]]]]) };
        const masterIds = new Set([id["itar-m0"], id["itar-m1"], id["itar-m2"]]);
        expect(slotMoves(plannedOwners(t), live, masterIds)).toEqual([
            { from: id["itar-m0"], to: id["itar-m0"], slots: [100], drain: [id["itar-m1"]], stable: [id["itar-m0"], id["itar-m1"]] },
        ]);
    });

    test("slotMapAgreement: ok when every node says ok and sees the same owners; else the first difference or state", () => {
        const r = (n: Name, file: string, state = "ok") => ({ name: n, state, view: recorded(file) });
        expect(slotMapAgreement([r("itar-m0", "healthy-m0"), r("itar-m0-r0", "healthy-r0"), r("itar-m1", "open-m1")], name)).toBe(true);
        expect(slotMapAgreement([r("itar-m0", "healthy-m0"), r("itar-m1", "failedover-m1")], name)).toBe(
            "itar-m1 sees slot 0 owned by itar-m0-r0, itar-m0 by itar-m0",
        );
        expect(slotMapAgreement([r("itar-m0", "healthy-m0"), r("itar-m1", "lost-master-m0", "fail")], name)).toBe(
            "itar-m1: cluster_state fail",
        );
    });
});
