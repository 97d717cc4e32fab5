// Live password rotation (components/redis/rotation.ts) on the real components: a RedisCluster (3 masters x 1
// replica, TLS) and a ReplicationChain (A plain -> B -> C over TLS) in one stack. Clients write and read all the way
// through a rotation of all three users' passwords (app, admin, replication) and through the next `pulumi up`, which
// drops the old ones, while every replica's link is sampled; nothing may fail, be lost or be replaced.
import type { Stack } from "@pulumi/pulumi/automation";
import type { Cluster } from "ioredis";
import { connect } from "../../components/client";
import { clusterOutputs, RedisCluster, RedisClusterArgs } from "../../components/cluster";
import { ACL_FILE, MASTERAUTH_FILE, passwordHash } from "../../components/redis/conf";
import { ChainNodeOutput, ReplicationChain, ReplicationChainArgs } from "../../components/replication";
import * as wire from "../../components/redis/wire";
import { DeployedCluster, plainOutputs, stateOf, stateSecrets, storedState, tearDown, testStack } from "./deploy";
import { docker, expectNoSecrets, Scope } from "./harness";

jest.setTimeout(300_000);

const SUBNETS = { cluster: "172.25.80.0/24", chain: "172.25.81.0/24" };
const USERS = ["app", "admin", "replication"] as const;
type User = (typeof USERS)[number];
type Passwords = Record<User, string>;
type RedisClient = Awaited<ReturnType<typeof wire.connect>>;
/** Each loader's bound: it stops at this many writes even if the update it runs through takes longer; and a pause
 *  between writes, so the loaders leave the engine its share of the machine's two cores. */
const MAX_WRITES = 20_000;
const PAUSE_MS = 5;

interface ChainOut {
    nodes: ChainNodeOutput[];
    caCertPem: string;
    clientCertPem: string;
    clientKeyPem: string;
    appUser: wire.Auth;
    adminUser: wire.Auth;
}

/** Writes and reads back continuously until stopped: every failed command, every acknowledged write. */
class Loader {
    readonly acked = new Map<string, string>();
    readonly failures: string[] = [];
    reads = 0;
    private stopped = false;
    private done: Promise<void>;

    constructor(
        readonly name: string,
        set: (k: string, v: string) => Promise<unknown>,
        get: (k: string) => Promise<string | null>,
    ) {
        this.done = (async () => {
            for (let i = 0; !this.stopped && i < MAX_WRITES; i++) {
                const [k, v] = [`${name}:{${i % 64}}:${i}`, `v${i}`];
                try {
                    await set(k, v);
                    this.acked.set(k, v);
                    const back = await get(k);
                    this.reads++;
                    if (back !== v) this.failures.push(`GET ${k}: ${back}`);
                } catch (e) {
                    this.failures.push(`${k}: ${(e as Error).message}`);
                }
                await new Promise(r => setTimeout(r, PAUSE_MS));
            }
        })();
    }

    async stop(): Promise<void> {
        this.stopped = true;
        await this.done;
    }
}

/** Samples INFO replication of every replica every 200 ms over admin connections opened before the rotation (they
 *  stay authenticated when their password is dropped): every sample whose link is not up. */
class LinkSampler {
    samples = 0;
    readonly down: string[] = [];
    private stopped = false;
    private running: Promise<void> = Promise.resolve();
    private timer?: NodeJS.Timeout;
    private constructor(private readonly clients: [string, RedisClient][]) {}

    static async start(replicas: { name: string; ep: wire.Endpoint; o: wire.ConnectOptions }[]): Promise<LinkSampler> {
        const s = new LinkSampler(
            await Promise.all(replicas.map(async r => [r.name, await wire.connect(r.ep, r.o)] as [string, RedisClient])),
        );
        const tick = () => {
            s.running = Promise.all(
                s.clients.map(async ([name, c]) => {
                    const status = await wire.info(c, "replication").then(
                        i => i.master_link_status,
                        e => (e as Error).message,
                    );
                    s.samples++;
                    if (status !== "up") s.down.push(`${name}: ${status}`);
                }),
            ).then(() => {
                if (!s.stopped) s.timer = setTimeout(tick, 200);
            });
        };
        tick();
        await s.running;
        return s;
    }

    async stop(): Promise<void> {
        this.stopped = true;
        clearTimeout(this.timer);
        await this.running;
        await Promise.all(this.clients.map(([, c]) => wire.close(c)));
    }
}

describe("password rotation of all three users on a live RedisCluster and ReplicationChain", () => {
    const scope = new Scope();
    let stack: Stack | undefined;
    const args: { cluster: RedisClusterArgs; chain: ReplicationChainArgs } = {
        cluster: { antiAffinity: "soft", subnet: SUBNETS.cluster, nodeTimeoutMs: 3000 },
        chain: { subnet: SUBNETS.chain },
    };
    let cluster: DeployedCluster;
    let chain: ChainOut;
    /** Each component's passwords before the rotation (old) and after (now), read from the state. */
    const old = {} as Record<"cluster" | "chain", Passwords>;
    const now = {} as Record<"cluster" | "chain", Passwords>;
    let containerIds: string[] = [];
    const counts: string[] = [];

    const chainEndpoint = (n: ChainNodeOutput): [wire.Endpoint, wire.ConnectOptions] =>
        n.plainPort
            ? [{ host: n.ip, port: n.plainPort }, {}]
            : [{ host: n.ip, port: n.tlsPort }, { tls: { ca: chain.caCertPem, cert: chain.clientCertPem, key: chain.clientKeyPem } }];
    const nodeEndpoints = () => [
        ...cluster.plan.map(n => ({
            name: n.name,
            ep: { host: n.ip, port: n.port },
            o: { tls: cluster.target.tls } as wire.ConnectOptions,
            replica: n.role === "replica",
        })),
        ...chain.nodes.map(n => {
            const [ep, o] = chainEndpoint(n);
            return { name: n.name, ep, o, replica: n.role === "replica" };
        }),
    ];
    const ids = () => nodeEndpoints().map(n => `${n.name} ${docker("inspect", "-f", "{{.Id}}", n.name)}`);
    const passwordsOf = async (users: string): Promise<Passwords> =>
        Object.fromEntries(
            await Promise.all(USERS.map(async u => [u, (await stateOf(stack!, `${users}-${u}`)).outputs.result])),
        ) as Passwords;
    /** Whether a fresh connection to `n` logs in as `user` with `password` (AUTH on an unauthenticated connection:
     *  OK or WRONGPASS, nothing else). */
    const accepted = (n: { ep: wire.Endpoint; o: wire.ConnectOptions }, user: User, password: string) =>
        wire.withClient(n.ep, { ...n.o, auth: undefined }, c =>
            c.call("AUTH", user, password).then(
                r => r === "OK",
                e => {
                    if (/WRONGPASS/.test((e as Error).message)) return false;
                    throw e;
                },
            ),
        );
    const passwordsFor = (name: string) => (name.startsWith("itpw-chain") ? "chain" : "cluster");
    /** Every node's users.acl and masterauth file as the writer left them (the node reads them when it restarts). */
    const files = (name: string) =>
        docker("exec", "-u", "redis", name, "sh", "-c", `cat ${ACL_FILE}; cat ${MASTERAUTH_FILE} 2>/dev/null || true`);

    async function up(): Promise<Record<string, any>> {
        const out = plainOutputs((await stack!.up()).outputs);
        cluster = new DeployedCluster(out, "itpw");
        chain = out.chain;
        now.cluster = await passwordsOf("itpw-users");
        now.chain = await passwordsOf("itpw-chain-users");
        return out;
    }

    /** Loaders on the cluster and the chain head, as the application, and the link sampler, through `step`. */
    async function underLoad(label: string, creds: Record<"cluster" | "chain", Passwords>, step: () => Promise<void>): Promise<void> {
        const app: Cluster = await connect({
            kind: "cluster",
            nodes: cluster.masters,
            tls: cluster.target.tls,
            username: "app",
            password: creds.cluster.app,
        });
        const [headEp, headO] = chainEndpoint(chain.nodes[0]);
        // A slow answer is not a failed one: the head fsyncs every write, on a disk the other suites share.
        const head = await wire.connect(headEp, {
            ...headO,
            auth: { username: "app", password: creds.chain.app },
            commandTimeoutMs: 60_000,
        });
        const sampler = await LinkSampler.start(
            nodeEndpoints()
                .filter(n => n.replica)
                .map(n => ({
                    ...n,
                    o: { ...n.o, auth: { username: "admin", password: creds[passwordsFor(n.name)].admin } },
                })),
        );
        const loaders = [
            new Loader(
                `${label}-cluster`,
                (k, v) => app.set(k, v),
                k => app.get(k),
            ),
            new Loader(
                `${label}-chain`,
                (k, v) => head.set(k, v),
                k => head.get(k),
            ),
        ];
        try {
            await step();
        } finally {
            await Promise.all(loaders.map(l => l.stop()));
            await sampler.stop();
        }
        // Every acknowledged write is there, read back with the new password (cluster) and on the chain's tail.
        const lost: string[] = [];
        const check = async (get: (k: string) => Promise<string | null>, acked: Map<string, string>) => {
            const all = [...acked];
            for (let i = 0; i < all.length; i += 500) {
                const got = await Promise.all(all.slice(i, i + 500).map(([k]) => get(k)));
                all.slice(i, i + 500).forEach(([k, v], j) => {
                    if (got[j] !== v) lost.push(k);
                });
            }
        };
        await cluster.withApp(c => check(k => c.get(k), loaders[0].acked));
        const tail = chain.nodes[chain.nodes.length - 1];
        const [tailEp, tailO] = chainEndpoint(tail);
        await wire.withClient(tailEp, { ...tailO, auth: chain.appUser }, async c => {
            await wire.waitUntil(
                "the chain's tail to catch up",
                async () => (await c.get([...loaders[1].acked.keys()].pop()!)) !== null,
                10_000,
            );
            await check(k => c.get(k), loaders[1].acked);
        });
        app.disconnect();
        await wire.close(head);
        counts.push(
            `${label}: ${loaders.map(l => `${l.name} ${l.acked.size} writes, ${l.reads} reads, ${l.failures.length} failed`).join("; ")}; ` +
                `${lost.length} lost; ${sampler.samples} link samples, ${sampler.down.length} not up`,
        );
        expect(loaders.flatMap(l => l.failures)).toEqual([]);
        expect(loaders.every(l => l.acked.size > 0)).toBe(true);
        expect(lost).toEqual([]);
        expect(sampler.down).toEqual([]);
        expect(sampler.samples).toBeGreaterThan(0);
    }

    beforeAll(async () => {
        stack = await testStack(scope, "itpw", async () => {
            const c = new RedisCluster("itpw", args.cluster);
            const ch = new ReplicationChain("itpw-chain", args.chain);
            return {
                itpw: clusterOutputs(c),
                chain: {
                    nodes: ch.nodes,
                    caCertPem: ch.caCertPem,
                    clientCertPem: ch.clientCertPem,
                    clientKeyPem: ch.clientKeyPem,
                    appUser: ch.appUser,
                    adminUser: ch.adminUser,
                },
            };
        });
        await up();
        Object.assign(old, now);
        containerIds = ids();
    });
    afterAll(() => tearDown(scope, stack));

    test("a rotation of app, admin and replication: the new passwords are added live and published, the old ones still work", async () => {
        const rotation = { app: "r1", admin: "r1", replication: "r1" };
        let out: Record<string, any> = {};
        await underLoad("rotate", old, async () => {
            args.cluster.passwordRotation = rotation;
            args.chain.passwordRotation = rotation;
            out = await up();
        });
        for (const c of ["cluster", "chain"] as const) for (const u of USERS) expect(now[c][u]).not.toBe(old[c][u]);
        // The outputs (and so the guard) carry the new passwords.
        expect([out.itpw.appUser.password, out.itpw.adminUser.password, out.chain.appUser.password, out.chain.adminUser.password]).toEqual([
            now.cluster.app,
            now.cluster.admin,
            now.chain.app,
            now.chain.admin,
        ]);
        for (const n of nodeEndpoints()) {
            const pw = { old: old[passwordsFor(n.name)], now: now[passwordsFor(n.name)] };
            for (const u of USERS)
                expect([n.name, u, await accepted(n, u, pw.old[u]), await accepted(n, u, pw.now[u])]).toEqual([n.name, u, true, true]);
            // What the node would restart with is what it runs: both hashes, and the new masterauth.
            const live = await wire.withClient(n.ep, { ...n.o, auth: { username: "admin", password: pw.now.admin } }, async c => ({
                hashes: Object.fromEntries(await Promise.all(USERS.map(async u => [u, (await wire.aclPasswordHashes(c, u)).sort()]))),
                masterauth: ((await c.call("CONFIG", "GET", "masterauth")) as string[])[1],
            }));
            for (const u of USERS) expect(live.hashes[u]).toEqual([passwordHash(pw.old[u]), passwordHash(pw.now[u])].sort());
            const file = files(n.name);
            for (const u of USERS) for (const h of live.hashes[u]) expect(file).toContain(`#${h}`);
            if (n.replica || passwordsFor(n.name) === "cluster") {
                expect(live.masterauth).toBe(pw.now.replication);
                expect(file).toContain(`masterauth ${pw.now.replication}`);
            }
        }
        expect(ids()).toEqual(containerIds);
    });

    test("a replica restarted now comes back with both passwords and links with the new replication password", async () => {
        const c = chain.nodes[2];
        docker("restart", c.name);
        const [ep, o] = chainEndpoint(c);
        await wire.waitUntil(
            `${c.name} to link up again`,
            () =>
                wire.withClient(
                    ep,
                    { ...o, auth: chain.adminUser },
                    async cl => (await wire.info(cl, "replication")).master_link_status === "up",
                ),
            30_000,
            200,
        );
        expect([await accepted({ ep, o }, "app", old.chain.app), await accepted({ ep, o }, "app", now.chain.app)]).toEqual([true, true]);
    });

    test("the next up drops the old passwords everywhere while clients using the new ones keep working; then nothing changes", async () => {
        await underLoad("retire", now, async () => {
            await up();
        });
        for (const n of nodeEndpoints()) {
            const pw = { old: old[passwordsFor(n.name)], now: now[passwordsFor(n.name)] };
            for (const u of USERS)
                expect([n.name, u, await accepted(n, u, pw.old[u]), await accepted(n, u, pw.now[u])]).toEqual([n.name, u, false, true]);
            const file = files(n.name);
            for (const u of USERS) expect(file).not.toContain(`#${passwordHash(pw.old[u])}`);
        }
        expect(ids()).toEqual(containerIds);
        await cluster.expectPlannedRoles();
        cluster.expectCheckPasses();
        await stack!.preview({ expectNoChanges: true });
        // The state and the logs hold no password in clear.
        const passwords = Object.fromEntries(
            (["cluster", "chain"] as const).flatMap(c =>
                USERS.flatMap(u => [
                    [`${c}-old-${u}`, old[c][u]],
                    [`${c}-${u}`, now[c][u]],
                ]),
            ),
        );
        expectNoSecrets(scope.logs(), { ...(await stateSecrets(stack!)), ...passwords });
        expectNoSecrets(storedState(scope), passwords);
        console.log(`password rotation counts:\n${counts.join("\n")}`);
    });
});
