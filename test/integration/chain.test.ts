// ReplicationChain deployed by the real engine and providers (tls, random, docker), one stack with two chains: the
// default shape A (plain) -> B (plain + TLS) -> C (TLS only, port 0), and a TLS-only chain (every hop TLS, so the
// head listens on TLS too, by default). Every check is against the containers, network, certificates and
// users the component made; only the rogue replica is built by hand (no component makes a wrong-password replica).
import type { Stack } from "@pulumi/pulumi/automation";
import * as fs from "fs";
import * as path from "path";
import { ChainNodeOutput, ReplicationChain } from "../../components/replication";
import { renderRedisConf } from "../../components/redis/conf";
import * as wire from "../../components/redis/wire";
import { plainOutputs, stateSecrets, tearDown, testStack } from "./deploy";
import { aclFor, docker, expectNoSecrets, nodeFiles, redisCommand, Scope, testUsers } from "./harness";

jest.setTimeout(300_000);

// The default subnet (172.31.0.0/24) is the dev stack's; the tests keep to their own.
const SUBNETS = { seed: "172.25.10.0/24", tlsOnly: "172.25.12.0/24" };
const ROGUE_IP = "172.25.10.30";

interface ChainOutputs {
    nodes: ChainNodeOutput[];
    networkName: string;
    caCertPem: string;
    appUser: wire.Auth;
    adminUser: wire.Auth;
}
type Shape = "seed" | "tlsOnly";
const SHAPES: Shape[] = ["seed", "tlsOnly"];
/** Commands whose permission the README's "what each user can do" table shows (ACL DRYRUN, nothing runs). */
const ACL_PROBES = [
    ["GET", "k"],
    ["SET", "k", "v"],
    ["EVAL", "return 1", "0"],
    ["MULTI"],
    ["WATCH", "k"],
    ["SUBSCRIBE", "events"],
    ["PUBLISH", "events", "m"],
    ["KEYS", "*"],
    ["FLUSHALL"],
    ["CONFIG", "GET", "maxmemory"],
    ["INFO"],
    ["CLIENT", "LIST"],
    ["ACL", "LIST"],
    ["DEBUG", "SLEEP", "0"],
    ["SHUTDOWN"],
    ["CLUSTER", "NODES"],
    ["PSYNC", "?", "-1"],
    ["REPLCONF", "ack", "0"],
    ["PING"],
];

describe("ReplicationChain deployed through the engine", () => {
    const scope = new Scope();
    let stack: Stack | undefined;
    const chains = {} as Record<Shape, ChainOutputs>;
    const handBuilt: string[] = [];

    /** How a client reaches node `n`: its plain listener when it has one, else TLS against the chain's CA. */
    const endpoint = (c: ChainOutputs, n: ChainNodeOutput, auth: wire.Auth): [wire.Endpoint, wire.ConnectOptions] =>
        n.plainPort
            ? [{ host: n.ip, port: n.plainPort }, { auth }]
            : [
                  { host: n.ip, port: n.tlsPort },
                  { auth, tls: { ca: c.caCertPem } },
              ];
    const on = <T>(c: ChainOutputs, n: ChainNodeOutput, auth: wire.Auth, f: (cl: Awaited<ReturnType<typeof wire.connect>>) => Promise<T>) =>
        wire.withClient(...endpoint(c, n, auth), f);

    beforeAll(async () => {
        stack = await testStack(scope, "itchain", async () => {
            const out = (c: ReplicationChain) => ({
                nodes: c.nodes,
                networkName: c.networkName,
                caCertPem: c.caCertPem,
                appUser: c.appUser,
                adminUser: c.adminUser,
            });
            return {
                seed: out(new ReplicationChain("itchain", { subnet: SUBNETS.seed })),
                tlsOnly: out(new ReplicationChain("itchain-tls", { hops: ["tls", "tls"], subnet: SUBNETS.tlsOnly })),
            };
        });
        Object.assign(chains, plainOutputs((await stack.up()).outputs));
    });
    // Hand-built containers sit on the component's network: tearDown removes them first.
    afterAll(() => tearDown(scope, stack, handBuilt));

    test("the default chain: A plain, B plain + TLS, C TLS only replicating B over TLS, on an internal network", () => {
        const { nodes, networkName } = chains.seed;
        expect(nodes.map(n => [n.name, n.ip, n.plainPort, n.tlsPort])).toEqual([
            ["itchain-a", "172.25.10.10", 6379, 0],
            ["itchain-b", "172.25.10.11", 6379, 6380],
            ["itchain-c", "172.25.10.12", 0, 6380],
        ]);
        expect(nodes[2].replicaOf).toMatchObject({ name: "itchain-b", port: 6380, tls: true });
        expect(docker("network", "inspect", "-f", "{{.Internal}} {{range .IPAM.Config}}{{.Subnet}}{{end}}", networkName)).toBe(
            `true ${SUBNETS.seed}`,
        );
        for (const n of nodes)
            expect(docker("inspect", "-f", `{{(index .NetworkSettings.Networks "${networkName}").IPAddress}}`, n.name)).toBe(n.ip);
    });

    test("the TLS-only chain: every node TLS only (port 0), every hop over TLS", () => {
        const { nodes } = chains.tlsOnly;
        expect(nodes.map(n => [n.plainPort, n.tlsPort])).toEqual([
            [0, 6380],
            [0, 6380],
            [0, 6380],
        ]);
        expect(nodes.slice(1).map(n => n.replicaOf)).toEqual([
            { name: "itchain-tls-a", ip: "172.25.12.10", port: 6380, tls: true },
            { name: "itchain-tls-b", ip: "172.25.12.11", port: 6380, tls: true },
        ]);
    });

    test.each(SHAPES)("%s: a write on the head is read on the tail; every replica follows its planned master", async shape => {
        const c = chains[shape];
        const [head, tail] = [c.nodes[0], c.nodes[c.nodes.length - 1]];
        const key = `k-${shape}-${Date.now()}`;
        await on(c, head, c.appUser, cl => cl.set(key, "from-head"));
        await on(c, tail, c.appUser, async cl => {
            await wire.waitUntil(`${tail.name} to have the key`, async () => (await cl.get(key)) === "from-head", 30_000);
            await expect(cl.info("replication")).rejects.toThrow(/NOPERM/);
        });
        for (const n of c.nodes.slice(1)) {
            const repl = await on(c, n, c.adminUser, cl => wire.info(cl, "replication"));
            expect([n.name, repl.role, repl.master_host, repl.master_port, repl.master_link_status]).toEqual([
                n.name,
                "slave",
                n.replicaOf!.ip,
                String(n.replicaOf!.port),
                "up",
            ]);
        }
    });

    test.each(SHAPES)("%s: a TLS-only node accepts no plaintext connection", async shape => {
        const tlsOnlyNodes = chains[shape].nodes.filter(n => n.plainPort === 0);
        expect(tlsOnlyNodes.length).toBeGreaterThan(0);
        const app = chains[shape].appUser;
        for (const n of tlsOnlyNodes) {
            await expect(wire.connect({ host: n.ip, port: 6379 }, { auth: app, connectTimeoutMs: 1000 })).rejects.toThrow(
                new RegExp(`cannot reach Redis at ${n.ip.replace(/\./g, "\\.")}:6379: connect ECONNREFUSED`),
            );
            // Plaintext on the TLS port is not Redis either: the server resets the connection at the failed handshake.
            await expect(
                wire.withClient({ host: n.ip, port: n.tlsPort }, { auth: app, connectTimeoutMs: 1500 }, cl => cl.ping()),
            ).rejects.toThrow(new RegExp(`cannot reach Redis at ${n.ip.replace(/\./g, "\\.")}:${n.tlsPort}: (read|write) ECONNRESET`));
        }
    });

    test("a replica with a wrong replication password, on the chain's network, never links", async () => {
        const c = chains.seed;
        const a = c.nodes[0];
        // Hand-built: no component makes a replica with a wrong password. It joins the component's network and has
        // its own users (its admin password is the test's), so only its masterauth is wrong.
        const own = testUsers();
        const conf = renderRedisConf({
            port: 6379,
            replicaOf: { host: a.ip, port: a.plainPort, tls: false },
            replicationUser: { name: "replication", password: "not-the-password-at-all" },
        });
        handBuilt.push(
            scope.container("itchain-rogue", {
                network: c.networkName,
                ip: ROGUE_IP,
                command: redisCommand,
                files: nodeFiles(conf, aclFor(own)),
            }),
        );
        // A's ACL log shows the rogue's attempt: proof it tried, and was refused.
        const refusals = () =>
            on(c, a, c.adminUser, async cl =>
                ((await cl.call("ACL", "LOG")) as unknown[][])
                    .map(e => Object.fromEntries(Array.from({ length: e.length / 2 }, (_, i) => [String(e[2 * i]), e[2 * i + 1]])))
                    .filter(
                        e => e.reason === "auth" && e.username === "replication" && String(e["client-info"]).includes(`addr=${ROGUE_IP}:`),
                    ),
            );
        await wire.waitUntil("A to refuse the rogue replica's AUTH", async () => (await refusals()).length > 0, 30_000, 200);
        const rogue = await wire.withClient({ host: ROGUE_IP, port: 6379 }, { auth: { username: "admin", password: own.admin } }, cl =>
            wire.info(cl, "replication"),
        );
        expect([rogue.role, rogue.master_link_status]).toEqual(["slave", "down"]);
        const master = await on(c, a, c.adminUser, cl => wire.info(cl, "replication"));
        expect([master.connected_slaves, master.slave0]).toEqual(["1", expect.stringContaining(`ip=${c.nodes[1].ip},`)]); // only B
    });

    test.each(SHAPES)("%s: no password -> NOAUTH; the default user is off", async shape => {
        const c = chains[shape];
        const [ep, o] = endpoint(c, c.nodes[0], c.appUser);
        await wire.withClient(ep, { tls: o.tls }, async cl => {
            await expect(cl.get("x")).rejects.toThrow(/NOAUTH/);
            // Were `default` on with nopass (Redis's default), any password would do.
            await expect(cl.call("AUTH", "default", "any-password-at-all")).rejects.toThrow(/WRONGPASS/);
        });
    });

    test("what each user can do, from ACL DRYRUN on a live node, is the README's table", async () => {
        const c = chains.seed;
        const rows = await on(c, c.nodes[0], c.adminUser, async cl => {
            const may = async (user: string, cmd: string[]) =>
                (await cl.call("ACL", "DRYRUN", user, ...cmd).then(String, e => String(e.message))) === "OK";
            const out: string[] = [];
            for (const cmd of ACL_PROBES) {
                out.push(
                    `| \`${cmd.join(" ")}\` | ${(await Promise.all(["admin", "app", "replication", "metrics"].map(u => may(u, cmd)))).map(ok => (ok ? "yes" : "no")).join(" | ")} |`,
                );
            }
            return out;
        });
        const table = ["| command | admin | app | replication | metrics |", "| --- | --- | --- | --- | --- |", ...rows].join("\n");
        // A change of the users' rules changes this table: paste the expected one into README.md (Security).
        expect(fs.readFileSync(path.join(__dirname, "../../README.md"), "utf8")).toContain(table);
    });

    test("a preview after the update has nothing to change", async () => {
        const r = await stack!.preview({ expectNoChanges: true });
        expect(r.changeSummary.same).toBeGreaterThan(0);
    });

    test("no node logged a password or a private key (the rogue replica's failed auth included)", async () => {
        const logs = scope.logs();
        for (const n of [...chains.seed.nodes, ...chains.tlsOnly.nodes])
            expect(docker("logs", n.name)).toMatch(/Ready to accept connections/);
        const secrets = await stateSecrets(stack!);
        // What is there to find: every generated password (admin, app, replication, metrics per chain) and every node's private key.
        expect(Object.keys(secrets).filter(k => k.endsWith(".result"))).toHaveLength(8);
        expect(Object.keys(secrets).filter(k => /-[abc]-tls-key\.privateKeyPem$/.test(k))).toHaveLength(6);
        expectNoSecrets(logs, secrets);
    });
});
