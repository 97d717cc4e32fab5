// The pure decisions of a certificate rotation: which nodes trust first, which roll (TlsReload), when the previous
// CA stops being trusted (CaTrust), the health of a node between two steps, and the `ca` input's validation.
import { bundleOf, caRotation, trustDecision } from "../../components/pki";
import { rotationPlan, unhealthy } from "../../components/redis/reload";

const served = (dir: string, fingerprint: string, ca: string[]) => ({ dir, fingerprint, ca });

describe("rotationPlan", () => {
    const order = ["m0", "m1", "r0"];
    const now = { m0: served("d0", "F0", ["CA1"]), m1: served("d1", "F1", ["CA1"]), r0: served("d2", "F2", ["CA1"]) };

    test("nothing changed: nothing to do (a second up is a no-op)", () => {
        expect(rotationPlan(now, now, order)).toEqual({ trust: [], roll: [], fresh: [] });
    });

    test("a renewal (same CA): every renewed node rolls, in order, none trusts first", () => {
        const want = { ...now, m1: served("e1", "G1", ["CA1"]), r0: served("e2", "G2", ["CA1"]) };
        expect(rotationPlan(now, want, order)).toEqual({ trust: [], roll: ["m1", "r0"], fresh: [] });
    });

    test("a CA rotation: every node trusts the bundle first, then rolls to the new CA's certificate", () => {
        const want = Object.fromEntries(order.map((n, i) => [n, served(`n${i}`, `N${i}`, ["CA2", "CA1"])]));
        expect(rotationPlan(now, want, order)).toEqual({ trust: order, roll: order, fresh: [] });
    });

    test("dropping the old CA: each node rolls (same certificate, new directory), nobody trusts first", () => {
        const during = Object.fromEntries(order.map((n, i) => [n, served(`n${i}`, `N${i}`, ["CA2", "CA1"])]));
        const after = Object.fromEntries(order.map((n, i) => [n, served(`a${i}`, `N${i}`, ["CA2"])]));
        expect(rotationPlan(during, after, order)).toEqual({ trust: [], roll: order, fresh: [] });
    });

    test("a node not served before (scale out) is only read; one gone is not planned", () => {
        const want = { m0: now.m0, m1: now.m1, m2: served("d3", "F3", ["CA1"]) };
        expect(rotationPlan(now, want, ["m0", "m1", "m2"])).toEqual({ trust: [], roll: [], fresh: ["m2"] });
    });
});

describe("unhealthy", () => {
    test("a replica with its link up and a cluster node with cluster_state ok are healthy", () => {
        expect(
            unhealthy({ name: "r", replica: true, cluster: true }, { master_link_status: "up" }, { cluster_state: "ok" }),
        ).toBeUndefined();
        expect(unhealthy({ name: "m", replica: false, cluster: false }, {})).toBeUndefined();
    });
    test("names the node and what is wrong", () => {
        expect(unhealthy({ name: "r", replica: true, cluster: false }, { master_link_status: "down" })).toBe("r: master_link_status down");
        expect(unhealthy({ name: "r", replica: true, cluster: false }, {})).toBe("r: master_link_status (none)");
        expect(unhealthy({ name: "m", replica: false, cluster: true }, {}, { cluster_state: "fail" })).toBe("m: cluster_state fail");
    });
});

describe("trustDecision", () => {
    const H = 3_600_000;
    test("first deployment: one CA", () => {
        expect(trustDecision(undefined, "A", 0, 0)).toEqual({ caPem: "A" });
    });
    test("the CA changed: the old one stays trusted, since now", () => {
        expect(trustDecision({ caPem: "A" }, "B", 0, 5)).toEqual({ caPem: "B", previousPem: "A", since: 5 });
    });
    test("grace 0: dropped on the next up; grace 24 h: kept until 24 h passed", () => {
        expect(trustDecision({ caPem: "B", previousPem: "A", since: 5 }, "B", 0, 6)).toEqual({ caPem: "B" });
        expect(trustDecision({ caPem: "B", previousPem: "A", since: 0 }, "B", 24, 23 * H)).toEqual({
            caPem: "B",
            previousPem: "A",
            since: 0,
        });
        expect(trustDecision({ caPem: "B", previousPem: "A", since: 0 }, "B", 24, 24 * H)).toEqual({ caPem: "B" });
    });
    test("a rotation during a rotation keeps only the CA just replaced", () => {
        expect(trustDecision({ caPem: "B", previousPem: "A", since: 0 }, "C", 24, 1)).toEqual({ caPem: "C", previousPem: "B", since: 1 });
    });
    test("bundleOf: the current CA first, each PEM ending in one newline", () => {
        expect(bundleOf({ caPem: "B\n\n", previousPem: "A" })).toBe("B\nA\n");
        expect(bundleOf({ caPem: "B\n" })).toBe("B\n");
    });
});

describe("caRotation", () => {
    test("defaults: generation 0, the old CA dropped on the next up", () => {
        expect(caRotation("ca")).toEqual({ generation: 0, graceHours: 0 });
        expect(caRotation("ca", { generation: 2, graceHours: 48 })).toEqual({ generation: 2, graceHours: 48 });
    });
    test("refuses what is not a whole number in range, naming the field", () => {
        expect(() => caRotation("ca", { generation: -1 })).toThrow(/^ca\.generation must be/);
        expect(() => caRotation("ca", { generation: 1.5 })).toThrow(/^ca\.generation must be/);
        expect(() => caRotation("ca", { graceHours: "1" as unknown as number })).toThrow(/^ca\.graceHours must be/);
        expect(() => caRotation("ca", 3 as unknown as object)).toThrow(/^ca must be/);
    });
});
