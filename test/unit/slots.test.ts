// Resharding decisions: which slots move from which node to which, in what order, and how open slots are closed.
import { SLOT_COUNT, slotRanges } from "../../components/cluster/plan";
import { LiveSlots, rangesText, SlotMove, slotMoves, slotOwners, toRanges } from "../../components/cluster/slots";

/** Slot owners when masters m0..m(n-1) hold slotRanges(n). */
const evenly = (n: number) => slotOwners(slotRanges(n).map((r, i) => ({ id: `m${i}`, slots: [r] })));
const masters = (n: number) => new Set(Array.from({ length: n }, (_, i) => `m${i}`));
const stable = (owners: (string | undefined)[]): LiveSlots => ({ owners, open: [], holders: new Map() });

/** Applies the moves in order; returns the final owners and the fewest slots each node held along the way. */
function apply(owners: (string | undefined)[], moves: SlotMove[]) {
    const now = [...owners];
    const count = new Map<string, number>();
    for (const id of now) if (id) count.set(id, (count.get(id) ?? 0) + 1);
    const least = new Map(count);
    for (const m of moves) {
        for (const s of m.slots) {
            expect(now[s]).toBe(m.from);
            now[s] = m.to;
        }
        count.set(m.from, count.get(m.from)! - m.slots.length);
        count.set(m.to, (count.get(m.to) ?? 0) + m.slots.length);
        least.set(m.from, Math.min(least.get(m.from)!, count.get(m.from)!));
    }
    return { owners: now, least };
}

describe("slot maps", () => {
    test("slotOwners reads ranges and single slots; unowned slots are undefined", () => {
        const owners = slotOwners([
            {
                id: "a",
                slots: [
                    [0, 2],
                    [5, 5],
                ],
            },
            { id: "b", slots: [[3, 3]] },
        ]);
        expect(owners.slice(0, 7)).toEqual(["a", "a", "a", "b", undefined, "a", undefined]);
        expect(owners).toHaveLength(SLOT_COUNT);
    });

    test("toRanges and rangesText compact sorted or unsorted slots", () => {
        expect(toRanges([7, 0, 2, 1])).toEqual([
            [0, 2],
            [7, 7],
        ]);
        expect(rangesText([4096, 4097, 4098, 9000])).toBe("4096-4098,9000");
        expect(toRanges([])).toEqual([]);
    });
});

describe("slotMoves: scaling", () => {
    test("nothing moves when every slot is with its planned owner", () => {
        expect(slotMoves(evenly(3), stable(evenly(3)), masters(3))).toEqual([]);
    });

    test("3 -> 4 masters: each master hands its range's tail to the next, 8192 slots in chunks of at most 1024", () => {
        const moves = slotMoves(evenly(4), stable(evenly(3)), masters(4));
        const byPair = new Map<string, number[]>();
        for (const m of moves) {
            expect(m.slots.length).toBeLessThanOrEqual(1024);
            expect(m).toMatchObject({ drain: [m.from], stable: [] });
            byPair.set(`${m.from}>${m.to}`, [...(byPair.get(`${m.from}>${m.to}`) ?? []), ...m.slots]);
        }
        expect([...byPair].map(([k, s]) => [k, rangesText(s)])).toEqual([
            ["m0>m1", "4096-5460"],
            ["m1>m2", "8192-10922"],
            ["m2>m3", "12288-16383"],
        ]);
        expect(apply(evenly(3), moves).owners).toEqual(evenly(4));
    });

    test("4 -> 3: the removed master's slots go to the planned owners, and so do the shifted ranges", () => {
        const moves = slotMoves(evenly(3), stable(evenly(4)), masters(3));
        const { owners, least } = apply(evenly(4), moves);
        expect(owners).toEqual(evenly(3));
        expect(owners).not.toContain("m3");
        expect(least.get("m3")).toBe(0);
    });

    test.each([
        [3, 6],
        [6, 3],
        [10, 3],
        [3, 10],
        [4, 7],
    ])("%i -> %i masters: no planned master is ever left without slots", (from, to) => {
        const moves = slotMoves(evenly(to), stable(evenly(from)), masters(to));
        const { owners, least } = apply(evenly(from), moves);
        expect(owners).toEqual(evenly(to));
        for (const id of masters(Math.min(from, to))) expect(least.get(id)).toBeGreaterThan(0);
    });

    test("10 -> 3 in slot order would empty m2 first (its new range lies past its old one): the order is chosen, not incidental", () => {
        // m2 holds 3277-4914 and is planned for 10923-16383: in slot order it gives everything before receiving.
        const moves = slotMoves(evenly(3), stable(evenly(10)), masters(3), 256);
        const slotOrder = [...moves].sort((a, b) => a.slots[0] - b.slots[0]);
        expect(apply(evenly(10), slotOrder).least.get("m2")).toBe(0);
        expect(apply(evenly(10), moves).least.get("m2")).toBeGreaterThan(0);
    });
});

describe("slotMoves: open slots (like redis-cli --cluster fix)", () => {
    const owners = evenly(3); // slot 100 belongs to m0, 6000 to m1
    const live = (open: LiveSlots["open"], holders: [number, string[]][]): LiveSlots => ({ owners, open, holders: new Map(holders) });

    test("half-migrated away from its planned owner: the keys come back, both sides are closed", () => {
        const moves = slotMoves(
            owners,
            live(
                [
                    { id: "m0", slot: 100, migratingTo: "m1" },
                    { id: "m1", slot: 100, importingFrom: "m0" },
                ],
                [[100, ["m0", "m1"]]],
            ),
            masters(3),
        );
        expect(moves).toEqual([{ from: "m0", to: "m0", slots: [100], drain: ["m1"], stable: ["m0", "m1"] }]);
    });

    test("half-migrated toward its planned owner: the migration finishes (keys, then SETSLOT NODE), then the states close", () => {
        // Slot 6000 is planned for m1 but still owned by m0, which was moving it to m1.
        const o = [...owners];
        o[6000] = "m0";
        const moves = slotMoves(
            owners,
            {
                owners: o,
                open: [
                    { id: "m0", slot: 6000, migratingTo: "m1" },
                    { id: "m1", slot: 6000, importingFrom: "m0" },
                ],
                holders: new Map([[6000, ["m0", "m1"]]]),
            },
            masters(3),
        );
        expect(moves).toEqual([{ from: "m0", to: "m1", slots: [6000], drain: ["m0"], stable: ["m0", "m1"] }]);
    });

    test("opened but nothing moved: only SETSLOT STABLE", () => {
        const moves = slotMoves(
            owners,
            live(
                [
                    { id: "m0", slot: 100, migratingTo: "m2" },
                    { id: "m2", slot: 100, importingFrom: "m0" },
                ],
                [[100, ["m0"]]],
            ),
            masters(3),
        );
        expect(moves).toEqual([{ from: "m0", to: "m0", slots: [100], drain: [], stable: ["m0", "m2"] }]);
    });

    test("keys on a node with no open state are drained too, and that node is closed after", () => {
        const moves = slotMoves(owners, live([{ id: "m1", slot: 100, importingFrom: "m0" }], [[100, ["m1", "m2"]]]), masters(3));
        expect(moves).toEqual([{ from: "m0", to: "m0", slots: [100], drain: ["m1", "m2"], stable: ["m1", "m2"] }]);
    });

    test("open slots are fixed first and are not moved again with the other slots", () => {
        const moves = slotMoves(
            evenly(4),
            { owners: evenly(3), open: [{ id: "m2", slot: 16000, migratingTo: "m0" }], holders: new Map() },
            masters(4),
        );
        expect(moves[0]).toEqual({ from: "m2", to: "m3", slots: [16000], drain: [], stable: ["m2"] });
        expect(moves.slice(1).filter(m => m.slots.includes(16000))).toEqual([]);
        expect(apply(evenly(3), moves).owners).toEqual(evenly(4));
    });
});
