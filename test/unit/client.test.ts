// Pure parts of the client toolkit: LockQuorum sizing, Redlock arithmetic, backoff, ioredis option building.
import { backoffDelay, clientPlan, quorum, reconnectDelay, redlockValidity } from "../../components/client";
import { planQuorum, validateQuorumSize } from "../../components/quorum";
import { ValidationError } from "../../components/validate";

describe("LockQuorum size", () => {
    test.each([3, 5, 7, 15])("%p is accepted", n => expect(validateQuorumSize(n)).toBe(n));
    test.each([2, 4, 6])("even %p is rejected, naming the field", n => {
        expect(() => validateQuorumSize(n)).toThrow(ValidationError);
        expect(() => validateQuorumSize(n)).toThrow(`size must be an odd integer from 3 to 15`);
    });
    test.each([1, 17, 0, -3, 5.5, "5", undefined])("%p is rejected", n => expect(() => validateQuorumSize(n)).toThrow(/^size must be/));

    test("planQuorum: fixed addresses from .10, names from the quorum name", () => {
        expect(planQuorum({ name: "locks", size: 3, subnet: "10.9.0.0/24", port: 6400 })).toEqual([
            { name: "locks-0", ip: "10.9.0.10", port: 6400 },
            { name: "locks-1", ip: "10.9.0.11", port: 6400 },
            { name: "locks-2", ip: "10.9.0.12", port: 6400 },
        ]);
        expect(() => planQuorum({ name: "locks", size: 4, subnet: "10.9.0.0/24", port: 6400 })).toThrow(/^size must be/);
        expect(() => planQuorum({ name: "locks", size: 5, subnet: "10.9.0.0/8", port: 6400 })).toThrow(/^subnet must be/);
    });
});

describe("Redlock arithmetic", () => {
    test("validity = ttl - elapsed - (round(ttl * drift) + 2)", () => {
        expect(redlockValidity(10_000, 0)).toBe(10_000 - 102);
        expect(redlockValidity(10_000, 50, 0.01)).toBe(9_848);
        expect(redlockValidity(1_000, 30, 0.01)).toBe(958);
        expect(redlockValidity(1_000, 0, 0)).toBe(998);
        expect(redlockValidity(100, 97, 0.01)).toBe(0); // not > 0: not acquired
        expect(redlockValidity(100, 200)).toBeLessThan(0);
    });
    test("quorum is a strict majority", () => {
        expect([3, 4, 5, 6, 7].map(quorum)).toEqual([2, 3, 3, 4, 4]);
    });
});

describe("backoff", () => {
    test("full jitter under a doubling, capped ceiling", () => {
        expect([1, 2, 3, 4, 10].map(a => backoffDelay(a, 5, 30, () => 0.999))).toEqual([4, 9, 19, 29, 29]);
        expect(backoffDelay(3, 5, 1000, () => 0)).toBe(0);
    });
    test("reconnects double from 100 ms up to 2 s, then stop", () => {
        expect([1, 2, 3, 5, 6, 10, 11].map(t => reconnectDelay(t, 10))).toEqual([100, 200, 400, 1600, 2000, 2000, null]);
        expect(reconnectDelay(1, 0)).toBeNull();
    });
});

describe("clientPlan", () => {
    const app = { username: "app", password: "p".repeat(32) };

    test("TLS node: no ready check, SNI only for DNS names", () => {
        const p = clientPlan({ kind: "node", host: "10.0.0.5", port: 6380, tls: { ca: "CA" }, ...app });
        expect(p.kind).toBe("redis");
        expect(p.options).toMatchObject({
            host: "10.0.0.5",
            port: 6380,
            enableReadyCheck: false,
            username: "app",
            tls: { ca: "CA", servername: undefined },
        });
        const named = clientPlan({ kind: "node", host: "redis-a", port: 6380, tls: { ca: "CA" }, ...app });
        expect(named.options).toMatchObject({ tls: { servername: "redis-a" } });
    });

    test("spiped: plain, loopback only", () => {
        expect(clientPlan({ kind: "spiped", port: 6390, ...app }).options).toMatchObject({ host: "127.0.0.1", port: 6390 });
        expect((clientPlan({ kind: "spiped", port: 6390, ...app }).options as { tls?: unknown }).tls).toBeUndefined();
        expect(() => clientPlan({ kind: "spiped", host: "10.0.0.1", port: 6390, ...app })).toThrow(
            /spiped host must be a loopback address/,
        );
    });

    test("cluster: seeds, TLS and credentials per node, natMap, bounded cluster retries", () => {
        const natMap = { "172.30.0.10:6379": { host: "127.0.0.1", port: 7001 } };
        const p = clientPlan(
            {
                kind: "cluster",
                nodes: [
                    { ip: "172.30.0.10", port: 6379 },
                    { ip: "172.30.0.11", port: 6379 },
                ],
                tls: { ca: "CA", cert: "CERT", key: "KEY" },
                natMap,
                ...app,
            },
            { maxReconnects: 3 },
        );
        if (p.kind !== "cluster") throw new Error("expected a cluster plan");
        expect(p.startupNodes).toEqual([
            { host: "172.30.0.10", port: 6379 },
            { host: "172.30.0.11", port: 6379 },
        ]);
        expect(p.options).toMatchObject({
            enableReadyCheck: false,
            redisOptions: { username: "app", password: app.password, enableReadyCheck: false, tls: { ca: "CA", cert: "CERT", key: "KEY" } },
        });
        expect([1, 3, 4].map(t => p.options.clusterRetryStrategy!(t))).toEqual([100, 400, null]);
        expect(() => clientPlan({ kind: "cluster", nodes: [], ...app })).toThrow(/at least one node/);
        // The natMap is complete: an address it does not name goes nowhere (refused), never to the announced address.
        const map = p.options.natMap as (key: string) => { host: string; port: number };
        expect([map("172.30.0.10:6379"), map("172.30.0.28:6379")]).toEqual([
            { host: "127.0.0.1", port: 7001 },
            { host: "127.0.0.1", port: 1 },
        ]);
        const own = () => ({ host: "h", port: 1 });
        const withFn = clientPlan({ kind: "cluster", nodes: [{ ip: "172.30.0.10", port: 6379 }], natMap: own, ...app });
        expect(withFn.kind === "cluster" && withFn.options.natMap).toBe(own);
        expect(
            (clientPlan({ kind: "cluster", nodes: [{ ip: "172.30.0.10", port: 6379 }], ...app }).options as { natMap?: unknown }).natMap,
        ).toBeUndefined();
    });
});
