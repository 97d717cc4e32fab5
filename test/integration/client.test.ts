// The client toolkit against Redis the components made, deployed by the engine and providers: a LockQuorum's node
// (plain, ACL app user), a TLS LockQuorum's node (TLS only) and a SpipedTunnel in front of the plain node.
// connect() to each; WATCH/MULTI and Lua under real concurrency; versioned CAS; a lock's fencing token defeating a
// holder that paused past its TTL. How fast WATCH/MULTI, Lua and locks are is measured by the bench (bench/locks.ts).
import type { Stack } from "@pulumi/pulumi/automation";
import type { Redis } from "ioredis";
import { SpipedTunnel } from "../../components/spiped";
import * as wire from "../../components/redis/wire";
import {
    acquireLock,
    addToCounter,
    compareAndSet,
    connect,
    decrementStock,
    fencedWrite,
    NodeTarget,
    optimisticTransaction,
    readFenced,
    readVersioned,
} from "../../components/client";
import { LockQuorum, QuorumNode } from "../../components/quorum";
import { plainOutputs, tearDown, testStack } from "./deploy";
import { freePort, Scope, testPki } from "./harness";

jest.setTimeout(300_000);

interface QuorumOutputs {
    nodes: QuorumNode[];
    appUser: wire.Auth;
    adminUser: wire.Auth;
    caCertPem?: string;
}

describe("client toolkit on Redis deployed through the engine", () => {
    const scope = new Scope();
    let stack: Stack | undefined;
    let out: { plain: QuorumOutputs; tls: QuorumOutputs; tunnel: { port: number } };
    let plain: NodeTarget, tlsNode: NodeTarget, admin: wire.Auth, app: wire.Auth;
    const clients: Redis[] = [];
    const open = async (n: number) => {
        const cs = await Promise.all(Array.from({ length: n }, () => connect(plain)));
        clients.push(...cs);
        return cs;
    };

    beforeAll(async () => {
        const listenPort = await freePort();
        stack = await testStack(scope, "ittk", async () => {
            const q = (quorum: LockQuorum) => ({
                nodes: quorum.nodes,
                appUser: quorum.appUser,
                adminUser: quorum.adminUser,
                caCertPem: quorum.caCertPem,
            });
            const plainQ = new LockQuorum("ittk", { size: 3, subnet: "172.25.20.0/24" });
            const tlsQ = new LockQuorum("ittk-tls", { size: 3, tls: true, subnet: "172.25.22.0/24" });
            const tunnel = new SpipedTunnel("ittk-sp", {
                networkName: plainQ.networkName,
                targetHost: plainQ.nodes[0].name,
                targetPort: plainQ.nodes[0].port,
                subnet: "172.25.23.0/24",
                listenPort,
            });
            return { plain: q(plainQ), tls: q(tlsQ), tunnel: { port: tunnel.listenPort } };
        });
        out = plainOutputs((await stack.up()).outputs) as typeof out;
        app = out.plain.appUser;
        admin = out.plain.adminUser;
        plain = { kind: "node", host: out.plain.nodes[0].ip, port: out.plain.nodes[0].port, ...app };
        tlsNode = {
            kind: "node",
            host: out.tls.nodes[0].ip,
            port: out.tls.nodes[0].port,
            tls: { ca: out.tls.caCertPem! },
            ...out.tls.appUser,
        };
        await wire.waitUntil(
            "the plain node to answer",
            async () => wire.withClient(plain, { auth: app, connectTimeoutMs: 1000 }, async c => (await c.ping()) === "PONG"),
            30_000,
            200,
        );
    });
    afterAll(async () => {
        await Promise.all(clients.map(c => c.quit().catch(() => c.disconnect())));
        await tearDown(scope, stack);
    });

    describe("connect()", () => {
        test("plain node as the app user, without the INFO ready check", async () => {
            const [c] = await open(1);
            expect(await c.set("hello", "plain")).toBe("OK");
            await expect(c.info()).rejects.toThrow(/NOPERM/);
        });

        test("TLS-only node, server certificate checked against the CA", async () => {
            const c = await connect(tlsNode);
            clients.push(c);
            expect(await c.set("hello", "tls")).toBe("OK");
            expect(await c.get("hello")).toBe("tls");
            // Control: a CA that did not sign the node's certificate (made here with openssl: the quorum has one CA).
            const other = testPki(scope.dir, "other-ca");
            await expect(connect({ ...tlsNode, tls: { ca: other.ca } }, { maxReconnects: 0, connectTimeoutMs: 1500 })).rejects.toThrow(
                new RegExp(`cannot connect to Redis at ${tlsNode.host.replace(/\./g, "\\.")}:${tlsNode.port} \\(TLS\\)`),
            );
        });

        test("spiped client end on loopback", async () => {
            let c: Redis | undefined;
            await wire.waitUntil(
                "the tunnel to carry PING",
                async () => {
                    const t = await connect(
                        { kind: "spiped", port: out.tunnel.port, ...app },
                        { maxReconnects: 0, connectTimeoutMs: 1000 },
                    );
                    if ((await t.ping()) === "PONG") {
                        c = t;
                        return true;
                    }
                    t.disconnect();
                    return false;
                },
                30_000,
                200,
            );
            clients.push(c!);
            expect(await c!.get("hello")).toBe("plain");
        });

        test("wrong password: a clear error, no hang", async () => {
            await expect(connect({ ...plain, password: "x".repeat(20) }, { maxReconnects: 0 })).rejects.toThrow(/WRONGPASS/);
        });
    });

    describe("transactions", () => {
        test("20 workers x 10 WATCH/MULTI increments end at exactly 200", async () => {
            const workers = await open(20);
            const key = "tx:counter";
            const attempts = await Promise.all(
                workers.map(async c => {
                    const perIncrement: number[] = [];
                    for (let i = 0; i < 10; i++) {
                        const r = await optimisticTransaction(
                            c,
                            [key],
                            async rc => {
                                const n = Number((await rc.get(key)) ?? 0);
                                return tx => tx.set(key, String(n + 1));
                            },
                            { maxAttempts: 500, baseDelayMs: 2, maxDelayMs: 50 },
                        );
                        expect(r.committed).toBe(true);
                        perIncrement.push(r.attempts);
                    }
                    return perIncrement;
                }),
            );
            const all = attempts.flat();
            const total = all.reduce((a, b) => a + b, 0);
            console.log(
                `WATCH/MULTI, 20 workers x 10: ${total} attempts for 200 commits (${total - 200} conflicts), max ${Math.max(...all)} per increment`,
            );
            expect(await workers[0].get(key)).toBe("200");
        });

        test("the same through a Lua read-modify-write: 200, no retries", async () => {
            const workers = await open(20);
            const key = "lua:counter";
            await Promise.all(
                workers.map(async c => {
                    for (let i = 0; i < 10; i++) await addToCounter(c, key, 1);
                }),
            );
            expect(await workers[0].get(key)).toBe("200");
        });

        test("the read step can abort: nothing is written, WATCH is cleared", async () => {
            const [c] = await open(1);
            const r = await optimisticTransaction(c, ["tx:abort"], async () => null);
            expect(r).toMatchObject({ committed: false, aborted: true, attempts: 1 });
            expect(await c.exists("tx:abort")).toBe(0);
        });

        test("decrementStock: 150 concurrent requests on stock 100 -> exactly 100 succeed, 0 left", async () => {
            const conns = await open(10);
            const key = "stock:sku-1";
            await conns[0].set(key, "100");
            const results = await Promise.all(Array.from({ length: 150 }, (_, i) => decrementStock(conns[i % conns.length], key, 1)));
            expect(results.filter(r => r >= 0)).toHaveLength(100);
            expect(results.filter(r => r === -1)).toHaveLength(50);
            expect(new Set(results.filter(r => r >= 0)).size).toBe(100); // every remaining count 0..99 seen once
            expect(await conns[0].get(key)).toBe("0");
            expect(await decrementStock(conns[0], "stock:missing", 1)).toBe(-1);
        });

        test("compareAndSet: the current version wins once, a stale version is rejected", async () => {
            const [a, b] = await open(2);
            const key = "cas:doc";
            expect(await compareAndSet(a, key, 0, "v1")).toEqual({ ok: true, version: 1 });
            const seenByA = await readVersioned(a, key);
            const seenByB = await readVersioned(b, key);
            expect(await compareAndSet(b, key, seenByB.version, "from-b")).toEqual({ ok: true, version: 2 });
            expect(await compareAndSet(a, key, seenByA.version, "from-a")).toEqual({ ok: false, version: 2 });
            expect(await readVersioned(a, key)).toEqual({ version: 2, value: "from-b" });
        });

        test("the scripts survive SCRIPT FLUSH (EVALSHA falls back to EVAL)", async () => {
            const [c] = await open(1);
            await addToCounter(c, "lua:flush", 1);
            await wire.withClient(plain, { auth: admin }, a => a.call("SCRIPT", "FLUSH"));
            expect(await addToCounter(c, "lua:flush", 1)).toBe(2);
        });
    });

    describe("locks and fencing", () => {
        test("a holder paused past its TTL is fenced off; the stored value is the new holder's", async () => {
            const [a, b] = await open(2);
            const resource = "lock:invoice-7";
            const ttl = 2000;
            const lockA = await acquireLock(a, resource, ttl);
            expect(lockA).not.toBeNull();
            expect(await acquireLock(b, resource, ttl)).toBeNull(); // held
            // A "pauses" (GC, page fault...) past its TTL: until Redis has expired its lock.
            await wire.waitUntil("A's lock to expire", async () => (await b.exists(resource)) === 0, 10 * ttl, 50);
            const lockB = await acquireLock(b, resource, ttl);
            expect(lockB).not.toBeNull();
            expect(lockB!.fencingToken).toBeGreaterThan(lockA!.fencingToken);
            expect(await fencedWrite(b, "invoice-7", lockB!.fencingToken, "written-by-B")).toBe(true);
            // A wakes up believing it holds the lock.
            expect(await fencedWrite(a, "invoice-7", lockA!.fencingToken, "written-by-A")).toBe(false);
            expect(await readFenced(a, "invoice-7")).toEqual({ fence: lockB!.fencingToken, value: "written-by-B" });
            // A's release and extend cannot touch B's lock.
            expect(await lockA!.release()).toBe(false);
            expect(await lockA!.extend(10_000)).toBe(false);
            expect(await b.get(resource)).toBe(lockB!.token);
            // extend() sets a new TTL: more than the lock was ever given before.
            expect(await lockB!.extend(60_000)).toBe(true);
            expect(await b.pttl(resource)).toBeGreaterThan(ttl);
            expect(await lockB!.release()).toBe(true);
            expect(await b.exists(resource)).toBe(0);
        });

        test("fencing tokens strictly increase across acquisitions", async () => {
            const [c] = await open(1);
            const tokens: number[] = [];
            for (let i = 0; i < 5; i++) {
                const l = await acquireLock(c, "lock:seq", 1000);
                tokens.push(l!.fencingToken);
                await l!.release();
            }
            expect(tokens).toEqual([...tokens].sort((x, y) => x - y));
            expect(new Set(tokens).size).toBe(5);
        });
    });
});
