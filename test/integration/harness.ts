// Real-container helpers for integration tests: the docker CLI against the local engine or a test host's engine
// (scripts/test-hosts.sh), test certificates from openssl with the same SANs and key usages the PKI component
// issues, and cleanup by label.
import { execFile, execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CertUse } from "../../components/pki/validate";
import { PlannedNode, placeClusterNodes } from "../../components/cluster/plan";
import {
    ADMIN_USER_RULES,
    APP_USER_RULES,
    CONF_DIR,
    renderAclFile,
    renderRedisConf,
    REPLICATION_USER_RULES,
    TLS_DIR,
} from "../../components/redis/conf";
import { DEFAULT_IMAGE } from "../../components/redis/node";
import * as wire from "../../components/redis/wire";
import { TEST_LABEL } from "../../scripts/facts";

export const IMAGE = process.env.RST_IMAGE ?? DEFAULT_IMAGE;

/** The docker CLI against the local engine. */
export function docker(...args: string[]): string {
    return dockerOn(undefined, ...args);
}

/** The docker CLI's arguments for `engine` (a DOCKER_HOST address such as unix:///run/rst-hosts/h1.sock; none: local). */
export function onEngine(engine: string | undefined, ...args: string[]): string[] {
    return engine ? ["-H", engine, ...args] : args;
}

/** The docker CLI against `engine` (see onEngine). */
export function dockerOn(engine: string | undefined, ...args: string[]): string {
    return execFileSync("docker", onEngine(engine, ...args), { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

/** `docker ...` without blocking the event loop (so timers and Redis polls keep running); errors carry the exit code. */
export function dockerAsync(args: string[], o: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<string> {
    return new Promise((resolve, reject) => {
        execFile(
            "docker",
            args,
            { encoding: "utf8", timeout: o.timeoutMs ?? 120_000, maxBuffer: 16 << 20, env: { ...process.env, ...o.env } },
            (err, stdout, stderr) =>
                err
                    ? reject(
                          Object.assign(
                              new Error(
                                  `docker ${args[0]} (exit ${err.code}): ${`${stderr} ${stdout}`.replace(/\s+/g, " ").trim().slice(-300)}`,
                              ),
                              { code: err.code },
                          ),
                      )
                    : resolve(stdout.trim()),
        );
    });
}

/** A test scope: everything it creates carries its label and is removed by cleanup(). */
export class Scope {
    readonly label = `${TEST_LABEL}=${crypto.randomBytes(4).toString("hex")}`;
    readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "rst-"));

    /** `engine`: a DOCKER_HOST address (default: the local engine); `alsoOn`: more engines its stack deploys to (a
     *  cluster over several hosts), which logs() and cleanup() cover too. */
    constructor(
        readonly engine?: string,
        readonly alsoOn: string[] = [],
    ) {}

    docker(...args: string[]): string {
        return dockerOn(this.engine, ...args);
    }

    /** A bridge network; `internal` ones have no route to other networks, as the components create them. */
    network(name: string, subnet: string, o: { internal?: boolean } = {}): string {
        this.docker("network", "create", "--label", this.label, "--subnet", subnet, ...(o.internal ? ["--internal"] : []), name);
        return name;
    }

    /** Creates a container (joining `alsoOn` networks too), copies `files` (path -> content) into it, then starts it. */
    container(
        name: string,
        o: {
            network: string;
            ip?: string;
            command: string[];
            files?: Record<string, string | Buffer>;
            publish?: string[];
            alsoOn?: string[];
            volume?: string;
        },
    ): string {
        this.docker(
            "create",
            "--name",
            name,
            "--label",
            this.label,
            "--network",
            o.network,
            ...(o.ip ? ["--ip", o.ip] : []),
            "--network-alias",
            name,
            ...(o.publish ?? []).flatMap(p => ["-p", p]),
            ...(o.volume ? ["-v", `${o.volume}:/data`] : []),
            IMAGE,
            ...o.command,
        );
        for (const net of o.alsoOn ?? []) this.docker("network", "connect", "--alias", name, net, name);
        if (o.files) {
            const stage = path.join(this.dir, name);
            for (const [file, content] of Object.entries(o.files)) {
                const local = path.join(stage, file);
                fs.mkdirSync(path.dirname(local), { recursive: true });
                fs.writeFileSync(local, content, { mode: 0o600 });
            }
            this.docker("cp", `${stage}/.`, `${name}:/`);
        }
        this.docker("start", name);
        return name;
    }

    /** A named volume for /data, as redisNode() gives every node. */
    volume(name: string): string {
        this.docker("volume", "create", "--label", this.label, name);
        return name;
    }

    /** Everything the scope's containers wrote to stdout/stderr (Redis and spiped log there). */
    logs(): string {
        return [this.engine, ...this.alsoOn]
            .flatMap(engine => {
                const ids = dockerOn(engine, "ps", "-aq", "--filter", `label=${this.label}`).split("\n").filter(Boolean);
                return ids.map(id => {
                    const r = spawnSync("docker", onEngine(engine, "logs", id), { encoding: "utf8" });
                    return r.stdout + r.stderr;
                });
            })
            .join("\n");
    }

    cleanup(): void {
        for (const engine of [this.engine, ...this.alsoOn]) {
            const labelled = (...what: string[]) =>
                dockerOn(engine, ...what, "-q", "--filter", `label=${this.label}`)
                    .split("\n")
                    .filter(Boolean);
            const ids = labelled("ps", "-a");
            if (ids.length) dockerOn(engine, "rm", "-f", "-v", ...ids);
            const nets = labelled("network", "ls");
            if (nets.length) dockerOn(engine, "network", "rm", ...nets);
            const vols = labelled("volume", "ls");
            if (vols.length) dockerOn(engine, "volume", "rm", ...vols);
        }
        fs.rmSync(this.dir, { recursive: true, force: true });
    }
}

export interface TestPki {
    ca: string;
    issue(cn: string, use: CertUse, dns: string[], ips: string[]): { cert: string; key: string };
}

/** A CA and certificates like the PKI component's (ECDSA P-256, SANs, serverAuth/clientAuth by use). */
export function testPki(dir: string, cn = "test-ca"): TestPki {
    const d = fs.mkdtempSync(path.join(dir, "pki-"));
    const ssl = (...a: string[]) => execFileSync("openssl", a, { cwd: d, stdio: "pipe" });
    ssl(
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        `/CN=${cn}`,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    );
    let n = 0;
    return {
        ca: fs.readFileSync(path.join(d, "ca.crt"), "utf8"),
        issue(commonName, use, dns, ips) {
            const id = `c${n++}`;
            const eku = { server: "serverAuth", client: "clientAuth", peer: "serverAuth,clientAuth" }[use];
            const san = [...dns.map(x => `DNS:${x}`), ...ips.map(x => `IP:${x}`)].join(",");
            fs.writeFileSync(
                path.join(d, `${id}.ext`),
                `extendedKeyUsage=${eku}\nkeyUsage=critical,digitalSignature,keyEncipherment\n${san ? `subjectAltName=${san}\n` : ""}`,
            );
            ssl(
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                `${id}.key`,
                "-out",
                `${id}.csr`,
                "-subj",
                `/CN=${commonName}`,
            );
            ssl(
                "x509",
                "-req",
                "-in",
                `${id}.csr`,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-out",
                `${id}.crt`,
                "-extfile",
                `${id}.ext`,
            );
            return { cert: fs.readFileSync(path.join(d, `${id}.crt`), "utf8"), key: fs.readFileSync(path.join(d, `${id}.key`), "utf8") };
        },
    };
}

/** The files redisNode() uploads, for a node started by the harness. */
export function nodeFiles(conf: string, acl: string, tls?: { ca: string; cert: string; key: string }): Record<string, string> {
    const f: Record<string, string> = { [`${CONF_DIR}/redis.conf`]: conf, [`${CONF_DIR}/users.acl`]: acl };
    if (tls) Object.assign(f, { [`${TLS_DIR}/ca.crt`]: tls.ca, [`${TLS_DIR}/node.crt`]: tls.cert, [`${TLS_DIR}/node.key`]: tls.key });
    return f;
}

export const redisCommand = ["redis-server", `${CONF_DIR}/redis.conf`];

export function password(): string {
    return crypto.randomBytes(24).toString("base64url");
}

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
    const net = await import("net");
    return new Promise((resolve, reject) => {
        const s = net.createServer();
        s.listen(0, "127.0.0.1", () => {
            const p = (s.address() as import("net").AddressInfo).port;
            s.close(() => resolve(p));
        });
        s.on("error", reject);
    });
}

export interface TestUsers {
    admin: string;
    replication: string;
    app: string;
}

export function testUsers(): TestUsers {
    return { admin: password(), replication: password(), app: password() };
}

export function aclFor(pw: TestUsers): string {
    return renderAclFile([
        { name: "admin", password: pw.admin, rules: ADMIN_USER_RULES },
        { name: "replication", password: pw.replication, rules: REPLICATION_USER_RULES },
        { name: "app", password: pw.app, rules: APP_USER_RULES },
    ]);
}

/** Where a test cluster's nodes of one host run: that host's engine (its Scope) and container subnet. */
export interface TestHost {
    name: string;
    subnet: string;
    scope: Scope;
}

/** Starts the containers RedisCluster would create for `plan`: TLS-only, mutual TLS, ACL users; one network per host,
 *  created unless `networks` (host name -> network) already has it (nodes added to a running cluster). */
export function startClusterNodes(
    hosts: TestHost[],
    plan: PlannedNode[],
    pw: TestUsers,
    pki: TestPki,
    networks = new Map<string, string>(),
    o: { volumes?: boolean } = {},
): Map<string, string> {
    for (const h of hosts) {
        if (!networks.has(h.name))
            networks.set(h.name, h.scope.network(`${plan[0].name.replace(/-m\d+(-r\d+)?$/, "")}-net-${h.name}`, h.subnet));
    }
    for (const n of plan)
        startClusterNode(
            hosts.find(h => h.name === n.host)!,
            n,
            networks.get(n.host)!,
            pw,
            pki,
            o,
        );
    return networks;
}

/** One node's container with a fresh certificate from `pki`; with `volumes`, /data on the volume `<name>-data` as
 *  redisNode() gives it (created if missing, kept if there: a replacement finds the data and nodes.conf). */
export function startClusterNode(
    host: TestHost,
    n: PlannedNode,
    network: string,
    pw: TestUsers,
    pki: TestPki,
    o: { volumes?: boolean } = {},
): { cert: string; key: string } {
    const volume = o.volumes ? `${n.name}-data` : undefined;
    if (volume && spawnSync("docker", onEngine(host.scope.engine, "volume", "inspect", volume)).status !== 0) host.scope.volume(volume);
    const cert = pki.issue(n.name, "peer", [n.name, "localhost"], [n.ip, "127.0.0.1"]);
    const conf = renderRedisConf({
        port: 0,
        tls: { port: n.port, mutual: true },
        cluster: { announceIp: n.ip, announcePort: n.port, announceBusPort: n.busPort, nodeTimeoutMs: 3000 },
        replicationUser: { name: "replication", password: pw.replication },
    });
    host.scope.container(n.name, {
        network,
        ip: n.ip,
        command: redisCommand,
        volume,
        files: nodeFiles(conf, aclFor(pw), { ca: pki.ca, ...cert }),
    });
    return cert;
}

/**
 * A TLS cluster's test fixture (3+1 unless told): users, plan, CA and an mTLS client certificate; start() runs its
 * containers, planFor() gives the plan of another shape and add() starts the nodes such a plan adds.
 * `placement`: a subnet on the scope's engine, or hosts, each with its own engine and subnet.
 */
export function testCluster(
    scope: Scope,
    name: string,
    placement: string | TestHost[],
    masters = 3,
    replicasPerMaster = 1,
    o: { volumes?: boolean } = {},
) {
    const hosts = typeof placement === "string" ? [{ name: "local", subnet: placement, scope }] : placement;
    const pw = testUsers();
    const shapeFor = (m: number, r: number) => ({
        name,
        masters: m,
        replicasPerMaster: r,
        hosts: hosts.map(h => ({ name: h.name, subnet: h.subnet })),
        subnet: hosts[0].subnet,
        port: 6379,
    });
    const planFor = (m: number, r: number) => placeClusterNodes(shapeFor(m, r));
    const plan = planFor(masters, replicasPerMaster);
    const pki = testPki(scope.dir);
    const client = pki.issue(`${name}-client`, "client", [], []);
    let networks: Map<string, string> | undefined;
    return {
        pw,
        plan,
        pki,
        client,
        planFor,
        admin: { username: "admin", password: pw.admin },
        tls: { ca: pki.ca, cert: client.cert, key: client.key },
        /** The plan as the bootstrap takes it (placement stays with the plan). */
        nodes: plan.map(({ host: _host, ...n }) => n),
        start: () => {
            networks = startClusterNodes(hosts, plan, pw, pki, new Map(), o);
        },
        add: (more: PlannedNode[]) => {
            if (!networks) throw new Error("testCluster: start() the cluster before adding nodes");
            startClusterNodes(hosts, more, pw, pki, networks, o);
        },
        /**
         * What a certificate renewal does to every node at once (the Docker provider replaces a container whose uploads
         * changed): stop (SIGTERM: Redis saves), remove, and start a replacement with a new certificate on the same
         * volume, all nodes in parallel. Returns each node's new certificate.
         */
        renewAll: async (): Promise<Map<string, string>> => {
            if (!networks || !o.volumes) throw new Error("testCluster: renewAll() needs a started cluster with volumes");
            const nets = networks;
            await Promise.all(
                plan.map(async n => {
                    const h = hosts.find(x => x.name === n.host)!;
                    await dockerAsync(onEngine(h.scope.engine, "stop", "-t", "10", n.name));
                    await dockerAsync(onEngine(h.scope.engine, "rm", n.name));
                }),
            );
            return new Map(
                plan.map(n => [
                    n.name,
                    startClusterNode(
                        hosts.find(x => x.name === n.host)!,
                        n,
                        nets.get(n.host)!,
                        pw,
                        pki,
                        o,
                    ).cert,
                ]),
            );
        },
    };
}

/** Secrets must never show up in logs: fails naming which one did. */
export function expectNoSecrets(text: string, secrets: Record<string, string>): void {
    const leaked = Object.entries(secrets)
        .filter(([, s]) => s.length >= 8 && text.includes(s))
        .map(([name]) => name);
    expect(leaked).toEqual([]);
}

/** The base64 body of a PEM private key (its first line of key material), which is what a leak would show. */
export function pemBody(pem: string): string {
    return pem.split("\n").find(l => l && !l.startsWith("-----")) ?? pem;
}

/** Kills `master`, waits until `replica` took over, starts it again and waits until it follows its old replica. */
export async function failOverAndBack(master: PlannedNode, replica: PlannedNode, conn: wire.ConnectOptions): Promise<void> {
    const on = <T>(n: PlannedNode, f: (c: Awaited<ReturnType<typeof wire.connect>>) => Promise<T>) =>
        wire.withClient({ host: n.ip, port: n.port }, conn, f);
    docker("kill", master.name);
    await on(replica, c =>
        wire.waitUntil("the replica to be promoted", async () => (await wire.info(c, "replication")).role === "master", 30_000, 100),
    );
    docker("start", master.name);
    // Connect inside the poll: the restarted container takes a moment to listen again.
    await wire.waitUntil(
        "the old master to rejoin as a replica",
        () => on(master, async c => (await wire.info(c, "replication")).master_link_status === "up"),
        30_000,
        100,
    );
}

/** Runs `redis-secure-topologies <args>` from source as a child process; its exit code and everything it printed. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
    const repo = path.resolve(__dirname, "../..");
    return new Promise(resolve => {
        execFile(
            process.execPath,
            ["-r", "ts-node/register/transpile-only", path.join(repo, "components/guard/cli.ts"), ...args],
            { cwd: repo, env: { ...process.env, ...env }, timeout: 120_000 },
            (e, stdout, stderr) => {
                const code = e ? (typeof e.code === "number" ? e.code : -1) : 0;
                resolve({ code, out: `${stdout}${stderr}` });
            },
        );
    });
}

const TEST_HOSTS_SCRIPT = path.join(__dirname, "../../scripts/test-hosts.sh");

/** The ranges scripts/test-hosts.sh routes, read from it (written once there): `NODES=a.b TUNNELS=c.d` and `VETH=e.f`. */
function testHostRanges(): { nodes: string; tunnels: string; veth: string } {
    const script = fs.readFileSync(TEST_HOSTS_SCRIPT, "utf8");
    const nets = /^NODES=(\d+\.\d+) TUNNELS=(\d+\.\d+)$/m.exec(script);
    const veth = /^VETH=(\d+\.\d+)$/m.exec(script);
    if (!nets || !veth) throw new Error(`${TEST_HOSTS_SCRIPT} has no NODES=… TUNNELS=… or VETH=… line`);
    return { nodes: nets[1], tunnels: nets[2], veth: veth[1] };
}

/** A /24 test-hosts.sh routes to host `hN`: "nodes" for Redis nodes, "tunnels" for a ClusterGateway's networks there. */
export function testHostSubnet(name: string, use: "nodes" | "tunnels"): string {
    return `${testHostRanges()[use]}.${name.replace(/^h/, "")}.0/24`;
}

/** Host `hN`'s veth addresses: `host` in its namespace (its containers' connections out come from it, masqueraded),
 *  `machine` this machine's end (this machine's connections to it come from there). */
export function testHostAddresses(name: string): { host: string; machine: string } {
    const n = name.replace(/^h/, "");
    const { veth } = testHostRanges();
    return { host: `${veth}.${n}.2`, machine: `${veth}.${n}.1` };
}

export { testHostEngine } from "../../scripts/facts";

/**
 * Starts (or checks) `count` test hosts h1..hN with scripts/test-hosts.sh (seconds when they are up already).
 * Throws saying why when they cannot start: a suite that needs them fails, it never turns into a skip.
 */
export function startTestHosts(count: number): void {
    const r = spawnSync("bash", [TEST_HOSTS_SCRIPT, "start", String(count)], { encoding: "utf8" });
    if (r.status === 0) return;
    const lines = `${r.stderr ?? ""}\n${r.stdout ?? ""}`
        .split("\n")
        .map(l => l.trim())
        .filter(Boolean);
    throw new Error(
        `the test hosts cannot start: scripts/test-hosts.sh start ${count} failed (exit ${r.status ?? r.signal}): ${lines.slice(-3).join(" | ") || r.error?.message}`,
    );
}

/** Runs `argv` (e.g. iptables) inside test host `hN`'s network namespace, where its containers' traffic is routed; its stdout. */
export function inTestHostNetwork(name: string, ...argv: string[]): string {
    return execFileSync("nsenter", [`--net=/run/netns/rst-${name}`, ...argv], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Takes test host `hN` off the network (its veth down) or brings it back. */
export function setTestHostLink(name: string, up: boolean): void {
    execFileSync("bash", [TEST_HOSTS_SCRIPT, up ? "join" : "cut", name.replace(/^h/, "")], { stdio: "pipe" });
}

/** Restarts test host `hN`'s dockerd cleanly (scripts/test-hosts.sh restart N), without blocking the event loop. */
export function restartTestHost(name: string): Promise<void> {
    return new Promise((resolve, reject) => {
        execFile(
            "bash",
            [TEST_HOSTS_SCRIPT, "restart", name.replace(/^h/, "")],
            { encoding: "utf8", timeout: 120_000 },
            (err, stdout, stderr) =>
                err
                    ? reject(
                          new Error(
                              `scripts/test-hosts.sh restart ${name} failed (exit ${err.code}): ${`${stderr}\n${stdout}`.trim().split("\n").slice(-3).join(" | ")}`,
                          ),
                      )
                    : resolve(),
        );
    });
}
