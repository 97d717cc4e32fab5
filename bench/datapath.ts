// Data path: redis-benchmark from a container on the same network against one redis-server, over plain TCP,
// native TLS (mutual, testPki certificates) and spiped tunnels with a few settings.
import * as crypto from "crypto";
import { ReplicationChain, SpipedTunnel } from "../components";
import { renderAclFile, renderRedisConf, APP_USER_RULES } from "../components/redis/conf";
import { clientCommand, KEY_BYTES, KEY_FILE, serverCommand, TunnelShape } from "../components/spiped/plan";
import * as v from "../components/validate";
import * as wire from "../components/redis/wire";
import { docker, nodeFiles, password, redisCommand, Scope, testPki } from "../test/integration/harness";
import { plainOutputs, testStack } from "../test/integration/deploy";
import { ContainerSpec, dockerAsync, median, startContainers } from "./common";

/** spiped variants; "default" is what SpipedTunnel runs with its defaults (-n 100, keepalives on). */
export const SPIPED_VARIANTS: { id: string; what: string; maxConnections: number; keepalive: boolean; extra?: string[] }[] = [
    { id: "default", what: "-n 100, keepalive on (component defaults)", maxConnections: 100, keepalive: true },
    { id: "nokeepalive", what: "-n 100 -j (keepalive off)", maxConnections: 100, keepalive: false },
    { id: "n50", what: "-n 50 (= benchmark clients)", maxConnections: 50, keepalive: true },
    { id: "n20", what: "-n 20 (< benchmark clients)", maxConnections: 20, keepalive: true },
    { id: "unlimited", what: "-n 0 (no limit; the component allows 1..10000)", maxConnections: 0, keepalive: true },
    {
        id: "fast",
        what: "-n 100 -f (no DH handshake, no forward secrecy; not exposed by the component)",
        maxConnections: 100,
        keepalive: true,
        extra: ["-f"],
    },
];

export interface Target {
    id: string;
    host: string;
    port: number;
    tls?: boolean;
}
export interface Measurement {
    target: string;
    clients: number;
    pipeline: number;
    set?: number;
    get?: number;
    error?: string;
}

const CLIENT = "bench-dp-client";
const CERTS = "/etc/bench";

export class DataPath {
    readonly targets: Target[] = [];
    protected app = { username: "app", password: password() };
    protected client = CLIENT;

    constructor(
        protected readonly scope: Scope,
        protected readonly subnet: string,
    ) {}

    async start(): Promise<void> {
        const net = this.scope.network("bench-dp-net", this.subnet);
        const ip = (n: number) => v.addressIn(v.subnet("subnet", this.subnet), n);
        const pki = testPki(this.scope.dir);
        const redisIp = ip(10);
        const server = pki.issue("bench-dp-redis", "server", ["bench-dp-redis"], [redisIp]);
        const client = pki.issue("bench-dp-client", "client", [], []);
        const acl = renderAclFile([{ name: "app", password: this.app.password, rules: APP_USER_RULES }]);
        const key = crypto.randomBytes(KEY_BYTES);
        const specs: ContainerSpec[] = [
            {
                name: "bench-dp-redis",
                ip: redisIp,
                command: redisCommand,
                files: nodeFiles(renderRedisConf({ port: 6379, tls: { port: 6380, mutual: true } }), acl, { ca: pki.ca, ...server }),
            },
            {
                name: CLIENT,
                ip: ip(11),
                command: ["sleep", "3600"],
                files: { [`${CERTS}/ca.crt`]: pki.ca, [`${CERTS}/client.crt`]: client.cert, [`${CERTS}/client.key`]: client.key },
            },
        ];
        this.targets.push({ id: "plain", host: redisIp, port: 6379 }, { id: "tls", host: redisIp, port: 6380, tls: true });
        SPIPED_VARIANTS.forEach((s, i) => {
            const shape: TunnelShape = {
                name: `bench-sp-${s.id}`,
                targetHost: redisIp,
                targetPort: 6379,
                serverPort: 8379,
                listenAddress: "0.0.0.0",
                listenPort: 6379,
                allowNonLoopbackListener: true,
                maxConnections: s.maxConnections,
                keepalive: s.keepalive,
                connectTimeoutSeconds: 5,
                keyBytes: KEY_BYTES,
            };
            const [serverIp, clientIp] = [ip(20 + 2 * i), ip(21 + 2 * i)];
            specs.push(
                {
                    name: `bench-dp-sps-${s.id}`,
                    ip: serverIp,
                    command: [...serverCommand(shape), ...(s.extra ?? [])],
                    files: { [KEY_FILE]: key },
                },
                {
                    name: `bench-dp-spc-${s.id}`,
                    ip: clientIp,
                    command: [...clientCommand(shape, serverIp), ...(s.extra ?? [])],
                    files: { [KEY_FILE]: key },
                },
            );
            this.targets.push({ id: `spiped:${s.id}`, host: clientIp, port: 6379 });
        });
        await startContainers(this.scope, net, specs);
        for (const t of this.targets.filter(t => !t.tls)) {
            await wire.waitUntil(
                `${t.id} to answer PING`,
                () => wire.withClient(t, { auth: this.app, connectTimeoutMs: 1000 }, async c => (await c.ping()) === "PONG"),
                30_000,
                100,
            );
        }
    }

    /** One redis-benchmark run (SET and GET), bounded by `timeout` inside the container. */
    async once(t: Target, clients: number, pipeline: number, requests: number, timeoutS = 60): Promise<Measurement> {
        const m: Measurement = { target: t.id, clients, pipeline };
        const args = [
            "exec",
            this.client,
            "timeout",
            String(timeoutS),
            "redis-benchmark",
            "-h",
            t.host,
            "-p",
            String(t.port),
            "--user",
            "app",
            "-a",
            this.app.password,
            "-c",
            String(clients),
            "-n",
            String(requests),
            "-P",
            String(pipeline),
            "-r",
            "10000",
            "-t",
            "set,get",
            "--csv",
            ...(t.tls ? ["--tls", "--cacert", `${CERTS}/ca.crt`, "--cert", `${CERTS}/client.crt`, "--key", `${CERTS}/client.key`] : []),
        ];
        try {
            const out = await dockerAsync(args, { timeoutMs: (timeoutS + 30) * 1000 });
            for (const line of out.split("\n")) {
                const [test, rps] = line.split(",").map(f => f.replace(/"/g, ""));
                if (test === "SET") m.set = Number(rps);
                if (test === "GET") m.get = Number(rps);
            }
            if (m.set === undefined || m.get === undefined) m.error = `no result: ${out.slice(0, 120)}`;
        } catch (e) {
            const why = /Error: ([^"]+?)(?= "|$)/.exec((e as Error).message)?.[1]; // redis-benchmark's own error line
            m.error =
                (e as { code?: unknown }).code === 124
                    ? `stalled (no result within ${timeoutS} s)`
                    : why
                      ? `failed: ${why.trim()}`
                      : (e as Error).message.slice(0, 160);
        }
        return m;
    }

    /** Median of `reps` runs; a failed run ends the series (a stall would only repeat). */
    async measure(t: Target, clients: number, pipeline: number, requests: number, reps = 3, timeoutS = 60): Promise<Measurement> {
        const runs: Measurement[] = [];
        for (let i = 0; i < reps; i++) {
            const m = await this.once(t, clients, pipeline, requests, timeoutS);
            if (m.error) return m;
            runs.push(m);
        }
        return { target: t.id, clients, pipeline, set: median(runs.map(r => r.set!)), get: median(runs.map(r => r.get!)) };
    }
}

/**
 * The same measurements through the components' own containers: a ReplicationChain (hops ["tls"], mutual TLS; its head
 * listens plain and TLS) and a SpipedTunnel with its defaults in front of the head, deployed through the engine. The
 * redis-benchmark container joins the chain's network (plain, TLS: the head's address) and the tunnel's network (the
 * tunnel's client end, as SpipedTunnel runs it, on its listen port).
 */
export class ComponentDataPath extends DataPath {
    private stack?: Awaited<ReturnType<typeof testStack>>;

    constructor(
        scope: Scope,
        private readonly subnets: [string, string],
    ) {
        super(scope, subnets[0]);
    }

    async start(): Promise<void> {
        this.client = "bndp-client";
        this.stack = await testStack(this.scope, "bndp", async () => {
            const chain = new ReplicationChain("bndp", {
                hops: ["tls"],
                headListener: "plain",
                mutualTls: true,
                subnet: this.subnets[0],
                maxmemory: "256mb",
            });
            const head = chain.nodes[0];
            const tunnel = new SpipedTunnel("bndp-tunnel", {
                networkName: chain.networkName,
                targetHost: head.name,
                targetPort: head.plainPort,
                listenPort: 16393,
                subnet: this.subnets[1],
            });
            return {
                nodes: chain.nodes,
                networkName: chain.networkName,
                caCertPem: chain.caCertPem,
                clientCertPem: chain.clientCertPem,
                clientKeyPem: chain.clientKeyPem,
                appUser: chain.appUser,
                tunnel: { client: tunnel.clientName, port: tunnel.listenPort },
            };
        });
        const out = plainOutputs((await this.stack.up()).outputs);
        this.app = out.appUser;
        const head = out.nodes[0];
        const nets = docker("network", "ls", "--filter", `label=${this.scope.label}`, "--format", "{{.Name}}").split("\n").filter(Boolean);
        const tunnelNet = nets.find(n => n !== out.networkName);
        if (!tunnelNet) throw new Error(`no tunnel network among ${nets.join(", ")}`);
        this.scope.container(this.client, {
            network: out.networkName,
            command: ["sleep", "3600"],
            alsoOn: [tunnelNet],
            files: {
                [`${CERTS}/ca.crt`]: out.caCertPem,
                [`${CERTS}/client.crt`]: out.clientCertPem,
                [`${CERTS}/client.key`]: out.clientKeyPem,
            },
        });
        this.targets.push(
            { id: "plain", host: head.ip, port: head.plainPort },
            { id: "tls", host: head.ip, port: head.tlsPort, tls: true },
            { id: "spiped:default", host: out.tunnel.client, port: out.tunnel.port },
        );
        const ping = [
            "exec",
            "-e",
            "REDISCLI_AUTH",
            this.client,
            "redis-cli",
            "--user",
            "app",
            "-h",
            out.tunnel.client,
            "-p",
            String(out.tunnel.port),
            "ping",
        ];
        await wire.waitUntil(
            "the tunnel to answer PING",
            async () => (await dockerAsync(ping, { env: { REDISCLI_AUTH: this.app.password } }).catch(() => "")).includes("PONG"),
            30_000,
            200,
        );
    }

    async stop(): Promise<void> {
        docker("rm", "-f", this.client);
        await this.stack?.destroy();
    }
}
