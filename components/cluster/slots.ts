// Which slots must move, from where to where and in what order, for the live cluster to match the plan: pure
// decisions, so converge() only carries them out (CLUSTER SETSLOT, GETKEYSINSLOT, MIGRATE) and tests can pin them.
import { SLOT_COUNT } from "./plan";

/** Owner node id of every slot (undefined: nobody) as one node's `CLUSTER NODES` view says. */
export function slotOwners(view: { id: string; slots: [number, number][] }[]): (string | undefined)[] {
    const owners: (string | undefined)[] = new Array(SLOT_COUNT).fill(undefined);
    for (const v of view) for (const [a, b] of v.slots) for (let s = a; s <= b; s++) owners[s] = v.id;
    return owners;
}

/** The slots as sorted, inclusive ranges (duplicates ignored): [0, 1, 2, 7] gives [[0, 2], [7, 7]]. */
export function toRanges(slots: number[]): [number, number][] {
    const out: [number, number][] = [];
    for (const s of [...new Set(slots)].sort((x, y) => x - y)) {
        const last = out[out.length - 1];
        if (last && last[1] === s - 1) last[1] = s;
        else out.push([s, s]);
    }
    return out;
}

/** Every slot of the inclusive ranges. */
export function slotsIn(ranges: [number, number][]): number[] {
    return ranges.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
}

/** The sub-ranges of [a, b] whose slots pass `keep`. */
export function rangesOf(range: [number, number], keep: (slot: number) => boolean): [number, number][] {
    return toRanges(slotsIn([range]).filter(keep));
}

export function rangesText(slots: number[]): string {
    return toRanges(slots)
        .map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`))
        .join(",");
}

export interface LiveSlots {
    /** Who owns each slot, as every node agrees. */
    owners: (string | undefined)[];
    /** Slots a master has open (its own `[s->-id]` / `[s-<-id]`). */
    open: { id: string; slot: number; migratingTo?: string; importingFrom?: string }[];
    /** For each open slot, the masters holding keys in it. */
    holders: Map<number, string[]>;
}

/** One step of resharding, carried out as `redis-cli --cluster` does. */
export interface SlotMove {
    /** The slots' current owner. */
    from: string;
    /** Their planned owner; equal to `from` when only an open slot is closed. */
    to: string;
    slots: number[];
    /** Nodes whose keys in these slots go to `to` (the owner when ownership changes, and any node left holding keys of an open slot). */
    drain: string[];
    /** Nodes whose migrating/importing state on these slots is cleared last (`SETSLOT STABLE`). */
    stable: string[];
}

/**
 * The moves that give every slot its planned owner. Open slots come first, one each: their keys go to the planned
 * owner wherever they are, and every open state is closed. Then slots held by another node move in chunks, ordered
 * so that a planned master never hands over its last slot before it has received new ones (Redis would turn a
 * master left without slots into a replica).
 */
export function slotMoves(planned: (string | undefined)[], live: LiveSlots, plannedMasters: Set<string>, chunk = 1024): SlotMove[] {
    const moves: SlotMove[] = [];
    const openSlots = [...new Set(live.open.map(o => o.slot))].sort((a, b) => a - b);
    for (const slot of openSlots) {
        const to = planned[slot];
        if (!to) continue;
        const from = live.owners[slot] ?? to;
        const drain = (live.holders.get(slot) ?? []).filter(id => id !== to);
        // Nodes that hold keys without owning the slot get it opened (importing) to move them, so they are closed too.
        const stable = [...new Set([...live.open.filter(o => o.slot === slot).map(o => o.id), ...drain.filter(id => id !== from)])];
        moves.push({ from, to, slots: [slot], drain, stable });
    }

    const count = new Map<string, number>();
    for (const id of live.owners) if (id) count.set(id, (count.get(id) ?? 0) + 1);
    for (const m of moves)
        if (m.from !== m.to) {
            count.set(m.from, count.get(m.from)! - 1);
            count.set(m.to, (count.get(m.to) ?? 0) + 1);
        }

    const groups = new Map<string, SlotMove>();
    const isOpen = new Set(openSlots);
    for (let s = 0; s < SLOT_COUNT; s++) {
        const from = live.owners[s],
            to = planned[s];
        if (!from || !to || from === to || isOpen.has(s)) continue;
        const key = `${from}>${to}`;
        if (!groups.has(key)) groups.set(key, { from, to, slots: [], drain: [from], stable: [] });
        groups.get(key)!.slots.push(s);
    }
    const pending: SlotMove[] = [];
    for (const g of groups.values()) {
        for (let i = 0; i < g.slots.length; i += chunk) pending.push({ ...g, slots: g.slots.slice(i, i + chunk) });
    }
    while (pending.length) {
        let next = pending.findIndex(m => !plannedMasters.has(m.from) || count.get(m.from)! > m.slots.length);
        if (next < 0) next = 0; // only cycles of masters each giving everything away; nothing better to do
        const [m] = pending.splice(next, 1);
        count.set(m.from, count.get(m.from)! - m.slots.length);
        count.set(m.to, (count.get(m.to) ?? 0) + m.slots.length);
        moves.push(m);
    }
    return moves;
}
