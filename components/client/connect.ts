// connect(): the right ioredis client for a deployment's outputs. A single node (plain or TLS), the loopback end
// of a spiped tunnel (plain Redis protocol, so loopback only), or a Redis Cluster. Every client: ACL user, no
// ready check (it runs INFO, which the app user may not), bounded reconnects, an error listener.
import Redis, { Cluster, ClusterOptions, NatMap, RedisOptions } from "ioredis";
import { isIP } from "net";
import type { TlsMaterial } from "../redis/wire";

export interface Credentials {
    username: string;
    password: string;
}

/** One node, e.g. a ReplicationChain node (`tls` with the chain's CA for its TLS port). */
export interface NodeTarget extends Credentials {
    kind: "node";
    host: string;
    port: number;
    tls?: TlsMaterial;
}
/** A SpipedTunnel's client end: its listenAddress (default 127.0.0.1) and listenPort. */
export interface SpipedTarget extends Credentials {
    kind: "spiped";
    port: number;
    host?: string;
}
/** A RedisCluster: any of its nodes as seeds; `natMap` when clients reach nodes by other addresses (a ClusterGateway's
 *  `endpoints` and `natMap`): then the client goes only where the map says (see closedNatMap). */
export interface ClusterTarget extends Credentials {
    kind: "cluster";
    nodes: { ip: string; port: number }[];
    tls?: TlsMaterial;
    natMap?: NatMap;
}
export type Target = NodeTarget | SpipedTarget | ClusterTarget;

export interface ClientOptions {
    connectTimeoutMs?: number;
    /** Reconnect attempts before the client gives up (default 10; backoff 100 ms doubling, at most 2 s). */
    maxReconnects?: number;
    /** Retries of one command across reconnects (default 2). */
    maxRetriesPerRequest?: number;
    /** Fail a command that gets no reply in this time (default: none). */
    commandTimeoutMs?: number;
    /** Connection errors (default: ignored; reconnects and failed commands still surface them). */
    onError?: (e: Error) => void;
}

export type ClientPlan =
    { kind: "redis"; options: RedisOptions } | { kind: "cluster"; startupNodes: { host: string; port: number }[]; options: ClusterOptions };

/** Where a client with a natMap sends a node the map does not name: loopback port 1 (tcpmux, which nothing serves:
 *  refused at once). Not port 0: ioredis reads a falsy port as 6379, where a local Redis might answer. */
export const UNMAPPED = { host: "127.0.0.1", port: 1 } as const;

/**
 * A natMap object as ioredis takes it, but complete: an address it does not name (a node added after the map was
 * made: the application still holds the outputs of before a scale-out) maps to UNMAPPED, so commands for that node
 * fail instead of going to its announced address past the tunnels. A function is the caller's own and is kept.
 */
export function closedNatMap(map: NatMap): NatMap {
    if (typeof map === "function") return map;
    return (key: string) => map[key] ?? { ...UNMAPPED };
}

/** Reconnect delay for attempt `times` (1-based), or null to stop. */
export function reconnectDelay(times: number, maxReconnects: number): number | null {
    return times > maxReconnects ? null : Math.min(100 * 2 ** (times - 1), 2000);
}

/** The ioredis options connect() uses; pure, so option building is testable without a server. */
export function clientPlan(t: Target, o: ClientOptions = {}): ClientPlan {
    const maxReconnects = o.maxReconnects ?? 10;
    const common: RedisOptions = {
        username: t.username,
        password: t.password,
        lazyConnect: true,
        enableReadyCheck: false,
        connectTimeout: o.connectTimeoutMs ?? 5000,
        maxRetriesPerRequest: o.maxRetriesPerRequest ?? 2,
        commandTimeout: o.commandTimeoutMs,
    };
    const retryStrategy = (times: number) => reconnectDelay(times, maxReconnects);
    switch (t.kind) {
        case "node":
            return { kind: "redis", options: { ...common, host: t.host, port: t.port, retryStrategy, tls: tlsOptions(t.tls, t.host) } };
        case "spiped": {
            const host = t.host ?? "127.0.0.1";
            if (!isLoopback(host))
                throw new Error(`spiped host must be a loopback address (the tunnel's client end speaks plain Redis); got "${host}"`);
            return { kind: "redis", options: { ...common, host, port: t.port, retryStrategy } };
        }
        case "cluster":
            if (!t.nodes.length) throw new Error("cluster nodes must list at least one node");
            return {
                kind: "cluster",
                startupNodes: t.nodes.map(n => ({ host: n.ip, port: n.port })),
                options: {
                    // Per-node retries are the cluster's business (clusterRetryStrategy); ioredis ignores retryStrategy here.
                    redisOptions: { ...common, tls: tlsOptions(t.tls, t.nodes[0].ip) },
                    enableReadyCheck: false,
                    lazyConnect: true,
                    natMap: t.natMap && closedNatMap(t.natMap),
                    maxRedirections: 16,
                    clusterRetryStrategy: retryStrategy,
                },
            };
    }
}

/** A connected client; callers `quit()` it when done. */
export async function connect(t: NodeTarget | SpipedTarget, o?: ClientOptions): Promise<Redis>;
export async function connect(t: ClusterTarget, o?: ClientOptions): Promise<Cluster>;
export async function connect(t: Target, o?: ClientOptions): Promise<Redis | Cluster>;
export async function connect(t: Target, o: ClientOptions = {}): Promise<Redis | Cluster> {
    const plan = clientPlan(t, o);
    const client = plan.kind === "redis" ? new Redis(plan.options) : new Cluster(plan.startupNodes, plan.options);
    let lastError: Error | undefined;
    const onError = (e: Error) => {
        lastError = e;
        o.onError?.(e);
    };
    client.on("error", onError);
    if (plan.kind === "cluster") client.on("node error", onError);
    try {
        await client.connect();
        // Without the ready check, connect() resolves before AUTH is answered: a PING proves the credentials.
        await client.ping();
    } catch (e) {
        client.disconnect();
        throw new Error(`cannot connect to ${describe(t)}: ${(lastError ?? (e as Error)).message}`);
    }
    return client;
}

function tlsOptions(m: TlsMaterial | undefined, host: string) {
    // The server certificate is checked against the host (IP or DNS SANs); SNI only for DNS names.
    return m && { ca: m.ca, cert: m.cert, key: m.key, servername: isIP(host) ? undefined : host };
}

function isLoopback(host: string): boolean {
    return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function describe(t: Target): string {
    switch (t.kind) {
        case "node":
            return `Redis at ${t.host}:${t.port}${t.tls ? " (TLS)" : ""}`;
        case "spiped":
            return `the spiped tunnel at ${t.host ?? "127.0.0.1"}:${t.port}`;
        case "cluster":
            return `Redis Cluster via ${t.nodes.map(n => `${n.ip}:${n.port}`).join(", ")}${t.tls ? " (TLS)" : ""}`;
    }
}
