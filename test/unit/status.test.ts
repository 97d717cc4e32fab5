// drift() and statusTable() on made-up node reports: a healthy 3 x 1 cluster, then one change per case.
import { placeClusterNodes } from "../../components/cluster/plan";
import { drift, LiveNode, slotText, statusTable } from "../../components/cluster/status";
import type { ClusterNodeView, NodeReport } from "../../components/redis/wire";

const plan = placeClusterNodes({ name: "rc", masters: 3, replicasPerMaster: 1, hosts: ["local"], subnet: "172.30.0.0/24", port: 6379 }).map(
    ({ host: _host, ...n }) => n,
);
const idOf = (name: string) => `${name.replace(/-/g, "")}`.padEnd(40, "0");
const byName = (name: string) => plan.find(n => n.name === name)!;

/** Every node answering, agreeing, with its planned role and slots. */
function healthy(): LiveNode[] {
    return plan.map((me): LiveNode => ({
        name: me.name,
        report: {
            id: idOf(me.name),
            nodes: plan.map((p): ClusterNodeView => ({
                id: idOf(p.name),
                ip: p.ip,
                port: p.port,
                flags: [...(p === me ? ["myself"] : []), p.role === "master" ? "master" : "slave"],
                masterId: p.masterName ? idOf(p.masterName) : undefined,
                connected: true,
                slots: p.slots ? [[...p.slots]] : [],
                openSlots: [],
            })),
            clusterInfo: { cluster_state: "ok" },
            replication:
                me.role === "master" ? { role: "master" } : ({ role: "slave", master_link_status: "up" } as Record<string, string>),
        },
    }));
}

const report = (live: LiveNode[], name: string): NodeReport => live.find(l => l.name === name)!.report!;
/** `name` as `viewer` sees it. */
const entry = (live: LiveNode[], viewer: string, name: string) => report(live, viewer).nodes.find(v => v.id === idOf(name))!;

/** What a killed and restarted master looks like: its replica took over, it came back as that replica's replica. */
function failedOver(live: LiveNode[], master: string, replica: string): void {
    const slots = byName(master).slots!;
    for (const l of live) {
        Object.assign(entry(live, l.name, master), {
            flags: [...entry(live, l.name, master).flags.filter(f => f === "myself"), "slave"],
            masterId: idOf(replica),
            slots: [],
        });
        Object.assign(entry(live, l.name, replica), {
            flags: [...entry(live, l.name, replica).flags.filter(f => f === "myself"), "master"],
            masterId: undefined,
            slots: [[...slots]],
        });
    }
    report(live, master).replication = { role: "slave", master_link_status: "up" };
    report(live, replica).replication = { role: "master" };
}

const cases: [string, (live: LiveNode[]) => void, string[]][] = [
    ["a healthy cluster", () => undefined, []],
    [
        "no node answers (a preview away from the nodes): unknown, not drift",
        live =>
            live.forEach(l => {
                delete l.report;
                l.error = "timeout";
            }),
        [],
    ],
    [
        "one node does not answer, the others see nothing wrong",
        live => {
            delete live[2].report;
        },
        [],
    ],
    [
        "a master came back as its replica's replica",
        live => failedOver(live, "rc-m0", "rc-m0-r0"),
        ["rc-m0 is replica of rc-m0-r0, planned master", "rc-m0-r0 is master of slots 0-5460, planned replica of rc-m0"],
    ],
    [
        "the same while the old master does not answer yet",
        live => {
            failedOver(live, "rc-m0", "rc-m0-r0");
            delete live[0].report;
        },
        ["rc-m0-r0 is master of slots 0-5460, planned replica of rc-m0"],
    ],
    [
        "a replica follows another master",
        live => {
            report(live, "rc-m0-r0").nodes.find(v => v.flags.includes("myself"))!.masterId = idOf("rc-m1");
        },
        ["rc-m0-r0 is replica of rc-m1, planned replica of rc-m0"],
    ],
    [
        "a replica's link is down",
        live => {
            report(live, "rc-m1-r0").replication.master_link_status = "down";
        },
        ["rc-m1-r0's link to rc-m1 is down"],
    ],
    [
        "a master owns fewer slots than planned",
        live => {
            entry(live, "rc-m2", "rc-m2").slots = [[10923, 16000]];
        },
        ["rc-m2 owns slots 10923-16000, planned 10923-16383"],
    ],
    [
        "a master's slots in adjacent ranges are its planned range",
        live => {
            entry(live, "rc-m2", "rc-m2").slots = [
                [12001, 16383],
                [10923, 12000],
            ];
        },
        [],
    ],
    [
        "a slot in migration",
        live => {
            entry(live, "rc-m1", "rc-m1").openSlots = [{ slot: 5461, migratingTo: "abc" }];
        },
        ["rc-m1 has slots in migration: 5461->abc"],
    ],
    [
        "cluster_state fail",
        live => {
            report(live, "rc-m0").clusterInfo.cluster_state = "fail";
        },
        ["rc-m0 reports cluster_state fail"],
    ],
    [
        "a node does not know another",
        live => {
            report(live, "rc-m1").nodes = report(live, "rc-m1").nodes.filter(v => v.id !== idOf("rc-m2"));
        },
        ["rc-m1 does not know rc-m2"],
    ],
    [
        "a node sees another as failed",
        live => {
            entry(live, "rc-m1", "rc-m2").flags.push("fail");
        },
        ["rc-m1 sees rc-m2 as failed"],
    ],
    [
        "a silent node, known by the id the others list at its address, seen as failed",
        live => {
            delete live[2].report;
            for (const l of live.filter(l => l.report)) entry(live, l.name, "rc-m2").flags.push("fail");
        },
        [
            "rc-m0 sees rc-m2 as failed",
            "rc-m1 sees rc-m2 as failed",
            "rc-m0-r0 sees rc-m2 as failed",
            "rc-m1-r0 sees rc-m2 as failed",
            "rc-m2-r0 sees rc-m2 as failed",
        ],
    ],
    [
        "a node knows an id that is no planned node (a ghost)",
        live => {
            report(live, "rc-m0").nodes.push({
                id: "deadbeef".padEnd(40, "0"),
                ip: "172.30.0.99",
                port: 6379,
                flags: ["master", "fail"],
                connected: false,
                slots: [],
                openSlots: [],
            });
        },
        ["rc-m0 knows unplanned node deadbeef at 172.30.0.99:6379"],
    ],
];

describe("drift", () => {
    test.each(cases)("%s", (_name, change, expected) => {
        const live = healthy();
        change(live);
        expect(drift(plan, live)).toEqual(expected);
    });
});

describe("statusTable", () => {
    test("one row per planned node, aligned, silent nodes marked unreachable", () => {
        const live = healthy();
        failedOver(live, "rc-m0", "rc-m0-r0");
        delete live[2].report;
        expect(statusTable(plan, live).split("\n")).toEqual([
            "node      planned           live         master    link  slots       state",
            "rc-m0     master            replica      rc-m0-r0  up    -           ok",
            "rc-m1     master            master       -         -     5461-10922  ok",
            "rc-m2     master            unreachable  ?         ?     ?           ?",
            "rc-m0-r0  replica of rc-m0  master       -         -     0-5460      ok",
            "rc-m1-r0  replica of rc-m1  replica      rc-m1     up    -           ok",
            "rc-m2-r0  replica of rc-m2  replica      rc-m2     up    -           ok",
        ]);
    });
});

describe("slotText", () => {
    test.each<[[number, number][], string]>([
        [[], "none"],
        [[[5, 5]], "5"],
        [[[0, 5460]], "0-5460"],
        [
            [
                [100, 200],
                [0, 99],
            ],
            "0-200",
        ],
        [
            [
                [0, 10],
                [20, 20],
            ],
            "0-10,20",
        ],
    ])("%j -> %s", (ranges, text) => expect(slotText(ranges)).toBe(text));
});
