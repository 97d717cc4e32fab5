// Security properties that need a real network and a real TLS stack, checked on what the components made through the
// real engine and the tls/random/docker plugins: one stack with a TLS-only ReplicationChain (A -> B over TLS), a
// chain on an ordinary network (the control for "no route out") and a mutual-TLS RedisCluster (3 x 1). The chain and
// the cluster issue certificates valid 24 h, renewed in their last 12 h: a `pulumi up` inside that window makes the
// tls provider issue new ones, each node's file writer deliver them and TlsReload load them into the running nodes
// (no container is replaced). Each property has a control
// that shows the check would fail if the property were gone.
import type { Stack } from "@pulumi/pulumi/automation";
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as tls from "tls";
import { clusterOutputs, RedisCluster } from "../../components/cluster";
import { converge } from "../../components/cluster/converge";
import { ChainNodeOutput, ReplicationChain } from "../../components/replication";
import { renderRedisConf } from "../../components/redis/conf";
import * as wire from "../../components/redis/wire";
import { DeployedCluster, plainOutputs, tearDown, testStack } from "./deploy";
import { aclFor, docker, nodeFiles, redisCommand, Scope, testPki, testUsers } from "./harness";

jest.setTimeout(300_000);

const SUBNETS = { chain: "172.25.15.0/24", open: "172.25.16.0/24", cluster: "172.25.17.0/24" };
const WEAK_IP = "172.25.15.30";
/** Short-lived certificates, renewed in the second half of their life. */
const SHORT = { validityHours: 24, earlyRenewalHours: 12 };
const SIGNED = "tls:index/locallySignedCert:LocallySignedCert";

type ClientCert = { cert: string; key: string };

/** The TLS version a handshake settled on, or the error that ended it. The client itself allows 1.0-1.3. */
function handshake(host: string, port: number, version: tls.SecureVersion, client?: ClientCert): Promise<string> {
    return new Promise(resolve => {
        const s = tls.connect(
            { host, port, rejectUnauthorized: false, minVersion: version, maxVersion: version, ciphers: "DEFAULT@SECLEVEL=0", ...client },
            () => {
                resolve(s.getProtocol() ?? "none");
                s.end();
            },
        );
        s.on("error", e => resolve(`refused: ${e.message}`));
    });
}

/** What a TLS port serves: its certificate's serial, notAfter and SHA-256 fingerprint. */
function served(host: string, port: number, client?: ClientCert): Promise<[string, string, string]> {
    return new Promise((resolve, reject) => {
        const s = tls.connect({ host, port, rejectUnauthorized: false, ...client }, () => {
            const c = s.getPeerCertificate();
            resolve([c.serialNumber, c.valid_to, c.fingerprint256]);
            s.end();
        });
        s.on("error", reject);
    });
}

/** The same three of a certificate the tls provider issued. */
const identity = (x: crypto.X509Certificate): [string, string, string] => [x.serialNumber, x.validTo, x.fingerprint256];

/** The certificates the stack's tls provider issued (LocallySignedCert), by resource name, from the stack's state. */
async function issued(stack: Stack): Promise<Map<string, crypto.X509Certificate>> {
    const resources: any[] = (await stack.exportStack()).deployment.resources ?? [];
    return new Map(
        resources
            .filter(r => r.type === SIGNED)
            .map(r => [String(r.urn).split("::").pop()!, new crypto.X509Certificate(r.outputs.certPem)]),
    );
}

/**
 * The clock moved on: the recorded validity of the certificates `which` picks, in the stack's state, shifted `hours`
 * into the past, as the state would read that long after they were issued. Nothing else changes; whether they are
 * due for renewal is the tls provider's decision at the next plan (now past validityEndTime - earlyRenewalHours).
 * Returns the names of the certificates moved.
 */
async function ageCertificates(stack: Stack, hours: number, which: (name: string) => boolean): Promise<string[]> {
    const state = await stack.exportStack();
    const moved: string[] = [];
    for (const r of state.deployment.resources ?? []) {
        const name = String(r.urn).split("::").pop()!;
        if (r.type !== SIGNED || !which(name)) continue;
        for (const k of ["validityStartTime", "validityEndTime"])
            r.outputs[k] = new Date(Date.parse(r.outputs[k]) - hours * 3_600_000).toISOString();
        moved.push(name);
    }
    await stack.importStack(state);
    return moved.sort();
}

interface ChainOutputs {
    nodes: ChainNodeOutput[];
    networkName: string;
    caCertPem: string;
    appUser: wire.Auth;
    adminUser: wire.Auth;
}

describe("TLS and network hardening on what the components made", () => {
    const scope = new Scope();
    let stack: Stack | undefined;
    let chain: ChainOutputs, open: ChainOutputs;
    let cluster: DeployedCluster;
    let nodeIds: Record<string, string>;
    const handBuilt: string[] = [];
    const log: string[] = [];
    const onOutput = (s: string) => {
        log.push(s);
    };

    const [A, B] = [() => chain.nodes[0], () => chain.nodes[1]];
    const onChain = <T>(n: ChainNodeOutput, f: (c: Awaited<ReturnType<typeof wire.connect>>) => Promise<T>, auth = chain.appUser) =>
        wire.withClient({ host: n.ip, port: n.tlsPort }, { auth, tls: { ca: chain.caCertPem }, connectTimeoutMs: 1000 }, f);
    const clientCert = (): ClientCert => ({ cert: cluster.target.tls!.cert!, key: cluster.target.tls!.key! });
    const read = (out: Record<string, any>) => {
        [chain, open] = [out.chain, out.open];
        cluster = new DeployedCluster(out, "itrn");
        nodeIds = out.itrn.nodeIds;
    };

    beforeAll(async () => {
        stack = await testStack(scope, "itsec", async () => {
            const out = (c: ReplicationChain) => ({
                nodes: c.nodes,
                networkName: c.networkName,
                caCertPem: c.caCertPem,
                appUser: c.appUser,
                adminUser: c.adminUser,
            });
            return {
                chain: out(
                    new ReplicationChain("itsec", { hops: ["tls"], headListener: "tls", subnet: SUBNETS.chain, certificates: SHORT }),
                ),
                open: out(new ReplicationChain("itsec-open", { hops: ["plain"], subnet: SUBNETS.open, internalNetwork: false })),
                itrn: clusterOutputs(
                    new RedisCluster("itrn", { subnet: SUBNETS.cluster, antiAffinity: "soft", mutualTls: true, certificates: SHORT }),
                ),
            };
        });
        read(plainOutputs((await stack.up({ onOutput })).outputs));
        await wire.waitUntil(
            "B to link to A over TLS",
            async () => {
                try {
                    return await onChain(B(), async c => (await wire.info(c, "replication")).master_link_status === "up", chain.adminUser);
                } catch {
                    return false;
                }
            },
            30_000,
            200,
        );
    }, 600_000);
    // Hand-built containers sit on the component's network: tearDown removes them first.
    afterAll(() => tearDown(scope, stack, handBuilt), 300_000);

    test("what was deployed: a TLS-only chain and a mutual-TLS cluster on internal networks, the control chain on an ordinary one", async () => {
        expect(chain.nodes.map(n => [n.name, n.ip, n.plainPort, n.tlsPort])).toEqual([
            ["itsec-a", "172.25.15.10", 0, 6380],
            ["itsec-b", "172.25.15.11", 0, 6380],
        ]);
        const internal = (net: string) => docker("network", "inspect", "-f", "{{.Internal}} {{range .IPAM.Config}}{{.Subnet}}{{end}}", net);
        expect([internal(chain.networkName), internal("itrn-net-local"), internal(open.networkName)]).toEqual([
            `true ${SUBNETS.chain}`,
            `true ${SUBNETS.cluster}`,
            `false ${SUBNETS.open}`,
        ]);
        await cluster.expectPlannedRoles();
        // Nothing is due for renewal yet: a plain re-run changes nothing.
        await stack!.preview({ expectNoChanges: true, onOutput });
    });

    test("minimum TLS 1.2 on a chain node and a cluster node: TLS 1.0 and 1.1 are refused, 1.2 and 1.3 accepted", async () => {
        const targets: [string, string, number, ClientCert | undefined][] = [
            [A().name, A().ip, A().tlsPort, undefined],
            // Mutual TLS: the client shows the cluster's client certificate, so only the version decides.
            [cluster.plan[0].name, cluster.plan[0].ip, cluster.plan[0].port, clientCert()],
        ];
        for (const [name, host, port, client] of targets) {
            const got = [];
            for (const v of ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const) got.push(await handshake(host, port, v, client));
            expect([name, ...got]).toEqual([
                name,
                expect.stringMatching(/^refused: .*(tlsv1 alert protocol version|unsupported protocol)/),
                expect.stringMatching(/^refused: .*(tlsv1 alert protocol version|unsupported protocol)/),
                "TLSv1.2",
                "TLSv1.3",
            ]);
        }
    });

    test("control: the same client does TLS 1.1 with a server that allows it", async () => {
        // Hand-built: no component makes a server that allows TLS 1.1. It is a node like the chain's, on the chain's
        // network, with its own users and a certificate from a test CA; only its tls-protocols and ciphers differ.
        const base = renderRedisConf({ port: 0, tls: { port: 6380, mutual: false } });
        expect(base).toContain('tls-protocols "TLSv1.2 TLSv1.3"');
        const conf =
            base.replace('tls-protocols "TLSv1.2 TLSv1.3"', 'tls-protocols "TLSv1.1 TLSv1.2"') + "tls-ciphers DEFAULT@SECLEVEL=0\n";
        const pki = testPki(scope.dir);
        handBuilt.push(
            scope.container("itsec-weak", {
                network: chain.networkName,
                ip: WEAK_IP,
                command: redisCommand,
                files: nodeFiles(conf, aclFor(testUsers()), { ca: pki.ca, ...pki.issue("itsec-weak", "server", [], [WEAK_IP]) }),
            }),
        );
        await wire.waitUntil("the weak node to listen", async () => (await handshake(WEAK_IP, 6380, "TLSv1.2")) === "TLSv1.2", 10_000, 100);
        expect(await handshake(WEAK_IP, 6380, "TLSv1.1")).toBe("TLSv1.1");
    });

    describe("internal networks: node traffic has no route out", () => {
        // A stand-in for "outside": a listener in its own network namespace, routed through the host.
        const ns = "rst-sec-outside";
        const OUTSIDE = "10.231.200.2";
        let listener: ChildProcess;
        const ip = (...a: string[]) => execFileSync("ip", a, { stdio: "pipe" });
        /** The probe's own exit code for "could not connect", told apart from docker's and the shell's. */
        const NO_CONNECTION = 3;
        const CONNECTED = "probe: connected";

        /**
         * A TCP probe from inside `container` to the outside listener: "reached: <what it sent>", or "no connection:
         * <why>" when the probe ran and could not connect (refused, no route, or the connect unanswered for 3 s, as on
         * an internal network, whose packets the engine drops). When the probe itself did not run (no such container,
         * docker failing, no bash or cat in the image) it throws, so a broken probe never reads as "unreachable".
         */
        const reach = (container: string): string => {
            const r = spawnSync(
                "docker",
                [
                    "exec",
                    container,
                    "timeout",
                    "3",
                    "bash",
                    "-c",
                    `exec 3<>/dev/tcp/${OUTSIDE}/7777 || exit ${NO_CONNECTION}; echo "${CONNECTED}" >&2; cat <&3`,
                ],
                { encoding: "utf8" },
            );
            const connected = (r.stderr ?? "").includes(CONNECTED);
            const said = `${r.stderr ?? ""}`.replace(CONNECTED, "").replace(/\s+/g, " ").trim();
            if (r.status === 0 && connected) return `reached: ${r.stdout.trim()}`;
            if (r.status === NO_CONNECTION) return `no connection: ${said}`;
            // timeout's exit code: the probe ran for 3 s; whether it got past the connect, its marker says.
            if (r.status === 124)
                return connected
                    ? `reached, then nothing within 3 s: ${r.stdout.trim()}`
                    : "no connection: the connect had no answer within 3 s";
            throw new Error(`the probe did not run in ${container} (exit ${r.status ?? r.signal}): ${said || r.error?.message}`);
        };

        beforeAll(async () => {
            spawnSync("ip", ["netns", "del", ns]);
            ip("netns", "add", ns);
            ip("link", "add", "rst-sec0", "type", "veth", "peer", "name", "rst-sec1");
            ip("link", "set", "rst-sec1", "netns", ns);
            ip("addr", "add", "10.231.200.1/30", "dev", "rst-sec0");
            ip("link", "set", "rst-sec0", "up");
            ip("netns", "exec", ns, "ip", "addr", "add", `${OUTSIDE}/30`, "dev", "rst-sec1");
            ip("netns", "exec", ns, "ip", "link", "set", "rst-sec1", "up");
            ip("netns", "exec", ns, "ip", "route", "add", "default", "via", "10.231.200.1");
            listener = spawn(
                "ip",
                [
                    "netns",
                    "exec",
                    ns,
                    process.execPath,
                    "-e",
                    `require("net").createServer(s => s.end("outside\\n")).listen(7777, "${OUTSIDE}")`,
                ],
                { stdio: "ignore" },
            );
            await wire.waitUntil("the outside listener", async () => reach(open.nodes[0].name) === "reached: outside", 10_000, 200);
        });
        afterAll(() => {
            listener?.kill();
            spawnSync("ip", ["netns", "del", ns]);
        });

        test("control: a chain node on an ordinary network (internalNetwork: false) reaches the outside listener", () => {
            expect(reach(open.nodes[0].name)).toBe("reached: outside");
        });

        test("a chain node and every cluster node, on their internal networks, do not: the probe ran and its connect went unanswered", () => {
            for (const name of [A().name, B().name, ...cluster.plan.map(n => n.name)]) {
                expect([name, reach(name)]).toEqual([name, "no connection: the connect had no answer within 3 s"]);
            }
        });

        test('control: a probe that cannot run is an error, not "no connection"', () => {
            expect(() => reach("itsec-no-such-node")).toThrow(
                /^the probe did not run in itsec-no-such-node \(exit 1\): Error response from daemon: No such container: itsec-no-such-node$/,
            );
        });
    });

    test("certificate renewal: an up inside the renewal window issues new certificates; every node, still the same container, serves them with every key, and the cluster is healthy", async () => {
        // Data first: 200 keys on the chain's head (B has them), 300 in the cluster, each acknowledged by a replica.
        const chainKeys = Array.from({ length: 200 }, (_, i) => `rot:${i}`);
        await onChain(A(), async c => {
            for (const k of chainKeys) await c.set(k, k);
        });
        await onChain(B(), c => wire.waitUntil("B to have the keys", async () => (await c.get(chainKeys[199])) === chainKeys[199], 30_000));
        const clusterKeys = Array.from({ length: 300 }, (_, i) => `renew:${i}`);
        await cluster.withApp(async app => {
            for (const k of clusterKeys) await app.set(k, k);
            for (const m of app.nodes("master")) expect(Number(await m.call("WAIT", "1", "5000"))).toBe(1);
        });

        const renewed = [...chain.nodes.map(n => n.name), ...cluster.plan.map(n => n.name)];
        type Endpoint = [string, number, ClientCert | undefined];
        const endpoints = new Map<string, Endpoint>([
            ...chain.nodes.map((n): [string, Endpoint] => [n.name, [n.ip, n.tlsPort, undefined]]),
            ...cluster.plan.map((n): [string, Endpoint] => [n.name, [n.ip, n.port, clientCert()]]),
        ]);
        const servedBy = async () => new Map(await Promise.all(renewed.map(async n => [n, await served(...endpoints.get(n)!)] as const)));
        const containerId = (n: string) => docker("inspect", "-f", "{{.Id}}", n);
        // A cluster node's id lives in nodes.conf on its volume: a node on a fresh volume would have a new one.
        const myIds = () => Promise.all(cluster.plan.map(n => cluster.on(n, async c => [n.name, String(await c.call("CLUSTER", "MYID"))])));
        const before = { certs: await issued(stack!), served: await servedBy(), ids: renewed.map(containerId), myIds: await myIds() };
        expect(Object.fromEntries(before.myIds)).toEqual(nodeIds);
        for (const n of renewed) expect([n, before.served.get(n)]).toEqual([n, identity(before.certs.get(`${n}-tls-cert`)!)]);

        // Thirteen hours later the certificates are past validityEnd - earlyRenewalHours (24 - 12): due for renewal.
        // The control chain's certificates (1 year) are aged too and are not due.
        const aged = await ageCertificates(stack!, 13, name => !name.startsWith("itsec-open-"));
        expect(aged).toEqual([...renewed.map(n => `${n}-tls-cert`), "itrn-client-cert", "itsec-client-cert"].sort());
        await ageCertificates(stack!, 13, name => name.startsWith("itsec-open-"));
        // The tls provider plans every aged certificate anew, and the docker provider the file writer of every
        // container that gets one, but not that container (TLS files are hot); the TlsReload of the chain and of the
        // cluster load them (updates), and the client certificates go to the cluster's bootstrap (an update).
        const preview = await stack!.preview({ onOutput });
        expect(preview.changeSummary).toMatchObject({ replace: aged.length + renewed.length, update: 3 });
        expect(Object.keys(preview.changeSummary).sort()).toEqual(["replace", "same", "update"]);
        const r = await stack!.up({ onOutput });
        expect(r.summary.resourceChanges).toMatchObject({ replace: aged.length + renewed.length, update: 3 });
        read(plainOutputs(r.outputs));

        const after = await issued(stack!);
        for (const name of aged) {
            const [was, now] = [before.certs.get(name)!, after.get(name)!];
            expect([name, now.serialNumber === was.serialNumber, Date.parse(now.validTo) > Date.parse(was.validTo)]).toEqual([
                name,
                false,
                true,
            ]);
        }
        // Every node is the container it was (only the writers, counted above, were replaced).
        expect(renewed.map(containerId)).toEqual(before.ids);

        // The cluster is whole, each node at its fixed address.
        await wire.waitUntil(
            "the renewed cluster to agree on one slot map with cluster_state:ok",
            async () => {
                try {
                    const views = await Promise.all(
                        cluster.plan.map(n =>
                            cluster.on(n, async c => [await wire.clusterInfo(c), await wire.clusterNodes(c)] as const, {
                                connectTimeoutMs: 1000,
                            }),
                        ),
                    );
                    return views.every(
                        ([info, nodes]) =>
                            info.cluster_state === "ok" && nodes.every(v => !v.flags.some(f => /fail|handshake|noaddr/.test(f))),
                    );
                } catch {
                    return false;
                }
            },
            60_000,
            200,
        );
        await wire.waitUntil(
            "A to serve again",
            async () => {
                try {
                    return await onChain(A(), async c => (await c.ping()) === "PONG");
                } catch {
                    return false;
                }
            },
            30_000,
            100,
        );
        // Every node serves its new certificate (the client certificate is the renewed one too).
        const now = await servedBy();
        for (const n of renewed) {
            expect([n, now.get(n)]).toEqual([n, identity(after.get(`${n}-tls-cert`)!)]);
            expect([n, now.get(n)![0] === before.served.get(n)![0]]).toEqual([n, false]);
        }
        expect(new crypto.X509Certificate(cluster.target.tls!.cert!).fingerprint256).toBe(after.get("itrn-client-cert")!.fingerprint256);

        // Every key survived; the chain's replica follows its renewed head.
        await onChain(A(), async c => {
            expect(await c.mget(...chainKeys)).toEqual(chainKeys);
            await c.set("rot:after", "yes");
        });
        await onChain(B(), async c => {
            await wire.waitUntil("B to get a write made after the renewal", async () => (await c.get("rot:after")) === "yes", 30_000);
            expect(await c.mget(...chainKeys)).toEqual(chainKeys);
        });
        await cluster.withApp(async app => expect(await Promise.all(clusterKeys.map(k => app.get(k)))).toEqual(clusterKeys));
        // Each cluster node is the node it was: its nodes.conf came back from its volume.
        expect(await myIds()).toEqual(before.myIds);
        expect(nodeIds).toEqual(Object.fromEntries(before.myIds));
        await cluster.expectPlannedRoles();
        cluster.expectCheckPasses();
        expect((await converge(cluster.target)).actions).toEqual([]);
        // Renewed once: the new certificates are not due, so the next run changes nothing.
        await stack!.preview({ expectNoChanges: true, onOutput });
    }, 600_000);
});
