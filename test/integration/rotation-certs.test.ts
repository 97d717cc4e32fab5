// Certificate rotation with zero downtime (#14, certificates), on what the components made through the real engine
// and the tls/random/docker plugins: one stack with a mutual-TLS RedisCluster (3+3) and a TLS-only ReplicationChain
// (A -> B). While a client writes and reads continuously (cluster: SET + WAIT 1 then GET; chain: SET then GET on the
// head) and a sampler reads every replica's link, the stack goes through a certificate renewal (the tls provider's,
// after the recorded validity moved 13 h back), a CA rotation (`ca.generation` 0 -> 1) and the next `pulumi up`,
// which drops the old CA. Each `up` reloads the nodes in place (TlsReload): no Redis container is replaced, no
// command fails, no acknowledged write is lost, no replica's link is ever seen down, and every open connection
// (the writers', the sampler's: made with the first CA and client certificate) lasts to the end. The client and
// the sampler run in a process of their own (rotation-load.ts), as an application does.
import type { Stack } from "@pulumi/pulumi/automation";
import * as crypto from "crypto";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { connect } from "../../components/client";
import { clusterOutputs, RedisCluster } from "../../components/cluster";
import type { CaRotation } from "../../components/pki";
import { ChainNodeOutput, ReplicationChain } from "../../components/replication";
import * as wire from "../../components/redis/wire";
import { DeployedCluster, plainOutputs, stateOf, tearDown, testStack } from "./deploy";
import { docker, dockerAsync, Scope } from "./harness";
import type { LoadResult, LoadSpec } from "./rotation-load";

jest.setTimeout(600_000);

const SUBNETS = { cluster: "172.25.70.0/24", chain: "172.25.71.0/24" };
const SHORT = { validityHours: 24, earlyRenewalHours: 12 };
const SIGNED = "tls:index/locallySignedCert:LocallySignedCert";
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
/** When each phase began (ms since the test's start), to place any failure in the log. */
const marks: [string, number][] = [];
const t0 = Date.now();
const mark = (what: string) => marks.push([what, Date.now() - t0]);

interface ChainOutputs {
    nodes: ChainNodeOutput[];
    caCertPem: string;
    clientCertPem: string;
    clientKeyPem: string;
    appUser: wire.Auth;
    adminUser: wire.Auth;
}

/** The recorded validity of every LocallySignedCert moved `hours` back (as the state would read that much later). */
async function ageCertificates(stack: Stack, hours: number): Promise<string[]> {
    const state = await stack.exportStack();
    const moved: string[] = [];
    for (const r of state.deployment.resources ?? []) {
        if (r.type !== SIGNED) continue;
        for (const k of ["validityStartTime", "validityEndTime"])
            r.outputs[k] = new Date(Date.parse(r.outputs[k]) - hours * 3_600_000).toISOString();
        moved.push(String(r.urn).split("::").pop()!);
    }
    await stack.importStack(state);
    return moved.sort();
}

/** Starts the application side (rotation-load.ts) in its own process; resolves once it is connected. */
async function startLoad(spec: LoadSpec, dir: string): Promise<{ stop: () => Promise<LoadResult> }> {
    const file = path.join(dir, "load-spec.json");
    fs.writeFileSync(file, JSON.stringify(spec), { mode: 0o600 });
    const child = spawn(
        process.execPath,
        [require.resolve("ts-node/dist/bin"), "--transpile-only", path.join(__dirname, "rotation-load.ts"), file, `${file}.out`],
        { cwd: path.join(__dirname, "../.."), stdio: ["pipe", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", d => {
        out += String(d);
    });
    const exited = new Promise<number>(r => child.once("exit", code => r(code ?? 1)));
    await wire.waitUntil(
        "the load process to connect",
        async () => {
            if (child.exitCode !== null) throw new Error(`the load process exited ${child.exitCode}`);
            return out.startsWith("ready\n");
        },
        120_000,
        200,
    );
    return {
        stop: async () => {
            child.stdin.write("stop\n");
            const code = await exited;
            if (code !== 0) throw new Error(`the load process exited ${code}`);
            return JSON.parse(fs.readFileSync(`${file}.out`, "utf8")) as LoadResult;
        },
    };
}

describe("certificate rotation without replacing a node, under load", () => {
    const scope = new Scope();
    let stack: Stack | undefined;
    let ca: CaRotation = {};
    let out: Record<string, any>;
    let cluster: DeployedCluster;
    let chain: ChainOutputs;
    const log: string[] = [];
    const onOutput = (s: string) => {
        log.push(s);
    };
    const read = (o: Record<string, any>) => {
        out = o;
        cluster = new DeployedCluster(o, "itcr");
        chain = o.chain;
    };
    const redisNames = () => [...cluster.plan.map(n => n.name), ...chain.nodes.map(n => n.name)];
    const containerIds = () => Object.fromEntries(redisNames().map(n => [n, docker("inspect", "-f", "{{.Id}}", n)]));
    const chainTls = () => ({ ca: chain.caCertPem, cert: chain.clientCertPem, key: chain.clientKeyPem });
    /** What every node serves now (fingerprint), over a TLS connection. */
    const serving = async () =>
        Object.fromEntries(
            await Promise.all([
                ...cluster.plan.map(
                    async n => [n.name, await wire.servedFingerprint({ host: n.ip, port: n.port }, cluster.target.tls!)] as const,
                ),
                ...chain.nodes.map(async n => [n.name, await wire.servedFingerprint({ host: n.ip, port: n.tlsPort }, chainTls())] as const),
            ]),
        );
    /** The node certificates in the state, by node name. */
    const issued = async () => {
        const rs: any[] = (await stack!.exportStack()).deployment.resources ?? [];
        return new Map(
            rs
                .filter(r => r.type === SIGNED)
                .map(r => [
                    String(r.urn)
                        .split("::")
                        .pop()!
                        .replace(/-tls-cert$/, ""),
                    new crypto.X509Certificate(r.outputs.certPem),
                ]),
        );
    };
    const pems = (bundle: string) => bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];

    beforeAll(async () => {
        stack = await testStack(scope, "itcr", async () => {
            const c = new ReplicationChain("itcr-ch", {
                hops: ["tls"],
                headListener: "tls",
                subnet: SUBNETS.chain,
                certificates: SHORT,
                mutualTls: true,
                ca,
            });
            return {
                itcr: clusterOutputs(
                    new RedisCluster("itcr", {
                        subnet: SUBNETS.cluster,
                        antiAffinity: "soft",
                        mutualTls: true,
                        nodeTimeoutMs: 3000,
                        certificates: SHORT,
                        ca,
                    }),
                ),
                chain: {
                    nodes: c.nodes,
                    caCertPem: c.caCertPem,
                    clientCertPem: c.clientCertPem,
                    clientKeyPem: c.clientKeyPem,
                    appUser: c.appUser,
                    adminUser: c.adminUser,
                },
            };
        });
        read(plainOutputs((await stack.up({ onOutput })).outputs));
    }, 600_000);
    afterAll(() => tearDown(scope, stack), 300_000);

    test("a renewal, a CA rotation and the old CA's removal: every node reloads in place; no command fails, no acknowledged write is lost, no replica link goes down", async () => {
        const ids = containerIds();
        const first = { cluster: cluster.target.tls!, chain: chainTls() };
        await wire.waitUntil(
            "B to link to A",
            async () =>
                wire.withClient(
                    { host: chain.nodes[1].ip, port: chain.nodes[1].tlsPort },
                    { auth: chain.adminUser, tls: first.chain },
                    async c => (await wire.info(c, "replication")).master_link_status === "up",
                ),
            30_000,
            200,
        );

        // The load and the sampler (their own process) connect once, with the first CA and client certificates.
        const loadRun = await startLoad(
            {
                cluster: { nodes: cluster.masters, tls: first.cluster, app: cluster.app },
                head: { host: chain.nodes[0].ip, port: chain.nodes[0].tlsPort, tls: first.chain, app: chain.appUser },
                replicas: [
                    ...cluster.plan
                        .filter(n => n.role === "replica")
                        .map(n => ({
                            name: n.name,
                            ep: { host: n.ip, port: n.port },
                            o: { auth: cluster.target.auth, tls: first.cluster },
                        })),
                    {
                        name: chain.nodes[1].name,
                        ep: { host: chain.nodes[1].ip, port: chain.nodes[1].tlsPort },
                        o: { auth: chain.adminUser, tls: first.chain },
                    },
                ],
                clusterNodes: cluster.plan.map(n => ({
                    name: n.name,
                    ep: { host: n.ip, port: n.port },
                    o: { auth: cluster.target.auth, tls: first.cluster },
                })),
            },
            scope.dir,
        );
        await sleep(1500);
        let result: LoadResult | undefined;
        try {
            // 1. Renewal: the certificates are due; the preview names every node that will rotate, the up reloads them.
            mark("renewal");
            await ageCertificates(stack!, 13);
            log.length = 0;
            await stack!.preview({ onOutput });
            const willRotate = new Set((log.join("").match(/(itcr(-ch)?): will rotate ([^\n(]+)/g) ?? []).map(l => l.trim()));
            expect([...willRotate].sort()).toEqual([
                `itcr-ch: will rotate ${chain.nodes.map(n => n.name).join(", ")}`,
                `itcr: will rotate ${cluster.plan.map(n => n.name).join(", ")}`,
            ]);
            const before = await serving();
            read(plainOutputs((await stack!.up({ onOutput })).outputs));
            const renewed = await issued();
            const now = await serving();
            for (const n of redisNames()) {
                expect([n, now[n]]).toEqual([n, renewed.get(n)!.fingerprint256]);
                expect([n, now[n] === before[n]]).toEqual([n, false]);
            }
            // The state records what each node serves.
            expect((await stateOf(stack!, "itcr-tls-reload")).outputs.served).toEqual(
                Object.fromEntries(cluster.plan.map(n => [n.name, expect.objectContaining({ fingerprint: now[n.name] })])),
            );
            await stack!.preview({ expectNoChanges: true, onOutput });

            // 2. CA rotation: the nodes trust both CAs, then serve certificates of the new one; clients get the bundle.
            mark("CA rotation");
            const oldCa = pems(out.itcr.caCertPem);
            ca = { generation: 1 };
            read(plainOutputs((await stack!.up({ onOutput })).outputs));
            const bundle = pems(out.itcr.caCertPem);
            expect(bundle).toHaveLength(2);
            expect(bundle[1]).toBe(oldCa[0]);
            const newCa = new crypto.X509Certificate(bundle[0]!);
            const rotated = await issued();
            const served2 = await serving();
            for (const n of redisNames()) {
                expect([n, served2[n]]).toEqual([n, rotated.get(n)!.fingerprint256]);
                const issuer = n.startsWith("itcr-ch") ? new crypto.X509Certificate(pems(chain.caCertPem)[0]!) : newCa;
                expect([n, rotated.get(n)!.verify(issuer.publicKey)]).toEqual([n, true]);
            }

            // 3. The next up drops the old CA; after it nothing changes.
            mark("old CA dropped");
            read(plainOutputs((await stack!.up({ onOutput })).outputs));
            expect(pems(out.itcr.caCertPem)).toEqual([bundle[0]]);
            expect(pems(chain.caCertPem)).toHaveLength(1);
            for (const n of cluster.plan) {
                const file = String(((await cluster.on(n, c => c.call("CONFIG", "GET", "tls-ca-cert-file"))) as string[])[1]);
                expect([n.name, pems(await dockerAsync(["exec", n.name, "cat", file]))]).toEqual([n.name, [bundle[0]]]);
            }
            await stack!.preview({ expectNoChanges: true, onOutput });
            await sleep(1500);
        } finally {
            // Stopped whatever happened, so a failure leaves no client running.
            result = await loadRun.stop();
        }
        const tallies = result.tallies;
        const sampled = result;
        // Every acknowledged write reads back, through clients made from the new outputs.
        const lost: string[] = [];
        await cluster.withApp(async c => {
            for (const k of tallies[0].keys) if (!(await c.get(k))) lost.push(k);
        });
        const headNow = await connect({
            kind: "node",
            host: chain.nodes[0].ip,
            port: chain.nodes[0].tlsPort,
            tls: chainTls(),
            ...chain.appUser,
        });
        try {
            for (const k of tallies[1].keys) if (!(await headNow.get(k))) lost.push(k);
        } finally {
            headNow.disconnect();
        }
        console.log(
            `rotation under load: ${JSON.stringify(tallies.map(t => ({ ...t, keys: undefined, failedAt: undefined, errors: [...t.errors] })))} ` +
                `samples ${sampled.samples}, link down ${sampled.linkDown.length}, cluster not ok ${sampled.clusterNotOk.length}, acked lost ${lost.length}; ` +
                `failed at ${JSON.stringify(tallies.map(t => t.failedAt))} ms of the load, phases ${JSON.stringify(marks)}, load average ${os
                    .loadavg()
                    .map((l: number) => l.toFixed(1))
                    .join(" ")}`,
        );
        expect(tallies.map(t => [t.kind, t.failed, [...t.errors]])).toEqual([
            ["cluster", 0, []],
            ["chain", 0, []],
        ]);
        for (const t of tallies) expect(t.acked).toBeGreaterThan(100);
        expect(lost).toEqual([]);
        expect(sampled.samplerError).toBeUndefined();
        expect(sampled.samples).toBeGreaterThan(20);
        expect([sampled.linkDown, sampled.clusterNotOk]).toEqual([[], []]);
        expect(containerIds()).toEqual(ids);
        await cluster.expectPlannedRoles();
        cluster.expectCheckPasses();
    }, 600_000);
});
