// The project's program: reads stack config, checks every component's settings before creating anything (so a bad
// stack config fails at preview naming its key, with nothing half-created), then passes plain Args to the components
// (which never read config). index.ts exports its outputs for `pulumi up`; scripts/stack.ts, the tests and the benchmark run it in-process (scripts/workspace.ts).
import * as pulumi from "@pulumi/pulumi";
import {
    chainMetricsPlan,
    resolveChainArgs,
    checkEngines,
    clusterOutputs,
    resolveClusterArgs,
    RedisCluster,
    RedisClusterArgs,
    ReplicationChain,
    ReplicationChainArgs,
    SpipedTunnel,
    resolveTunnelArgs,
    ValidationError,
} from "./components";
import { AppendFsync } from "./components/redis/conf";
import * as v from "./components/validate";

export const PROJECT = "redis-secure-topologies";

/** What the program reads of pulumi.Config (tests pass a plain stand-in). */
export interface ConfigReader {
    get(key: string): string | undefined;
    getNumber(key: string): number | undefined;
    getBoolean(key: string): boolean | undefined;
    getObject<T>(key: string): T | undefined;
}

export interface StackSettings {
    chain?: ReplicationChainArgs;
    tunnel?: { listenPort: number; subnet: string };
    cluster?: RedisClusterArgs;
}

const nonEmpty = <T>(list: T[] | undefined) => (Array.isArray(list) && list.length === 0 ? undefined : list);

/** Stack config as component args; the defaults are Pulumi.yaml's. */
export function stackSettings(cfg: ConfigReader): StackSettings {
    const maxmemory = cfg.get("maxmemory") ?? "256mb";
    const metrics = cfg.getBoolean("metrics") ?? false;
    const caGraceHours = cfg.getNumber("caGraceHours") ?? 0;
    const out: StackSettings = {};
    if (cfg.getBoolean("deployChain") ?? true) {
        // The spiped tunnel in front of the head decrypts to Redis's plain protocol, so the head listens in plain text
        // (on the chain's internal network only) whatever the hops are.
        out.chain = {
            hops: cfg.getObject("chainHops") ?? ["plain", "tls"],
            headListener: "plain",
            subnet: cfg.get("chainSubnet") ?? "172.31.0.0/24",
            maxmemory,
            appendfsync: (cfg.get("chainAppendfsync") ?? "always") as AppendFsync,
            ...(metrics && { metrics: true }),
            passwordRotation: cfg.getObject("chainPasswordRotation"),
            passwordGraceSeconds: cfg.getNumber("passwordGraceSeconds"),
            ca: { generation: cfg.getNumber("chainCaGeneration") ?? 0, graceHours: caGraceHours },
        };
        out.tunnel = { listenPort: cfg.getNumber("tunnelListenPort") ?? 6390, subnet: cfg.get("tunnelSubnet") ?? "172.31.1.0/24" };
    }
    if (cfg.getBoolean("deployCluster") ?? true) {
        out.cluster = {
            masters: cfg.getNumber("clusterMasters") ?? 3,
            replicasPerMaster: cfg.getNumber("clusterReplicasPerMaster") ?? 1,
            hosts: nonEmpty(cfg.getObject("clusterHosts")),
            subnet: cfg.get("clusterSubnet") ?? "172.30.0.0/24",
            mutualTls: cfg.getBoolean("clusterMutualTls") ?? false,
            antiAffinity: (cfg.get("clusterAntiAffinity") ?? "hard") as "hard" | "soft",
            maxmemory,
            appendonly: cfg.getBoolean("clusterAppendonly") ?? true,
            appendfsync: (cfg.get("clusterAppendfsync") ?? "everysec") as AppendFsync,
            ...(metrics && { metrics: true }),
            passwordRotation: cfg.getObject("clusterPasswordRotation"),
            passwordGraceSeconds: cfg.getNumber("passwordGraceSeconds"),
            ca: { generation: cfg.getNumber("clusterCaGeneration") ?? 0, graceHours: caGraceHours },
        };
    }
    return out;
}

/** Which stack config key sets each component field (the first part of a field such as "hosts[1].subnet"). */
const CONFIG_KEYS: Record<"chain" | "tunnel" | "cluster" | "stack", Record<string, string>> = {
    chain: {
        hops: "chainHops",
        subnet: "chainSubnet",
        maxmemory: "maxmemory",
        appendfsync: "chainAppendfsync",
        metrics: "metrics",
        passwordRotation: "chainPasswordRotation",
        passwordGraceSeconds: "passwordGraceSeconds",
        "ca.generation": "chainCaGeneration",
        "ca.graceHours": "caGraceHours",
    },
    tunnel: { listenPort: "tunnelListenPort", subnet: "tunnelSubnet" },
    cluster: {
        masters: "clusterMasters",
        replicasPerMaster: "clusterReplicasPerMaster",
        hosts: "clusterHosts",
        subnet: "clusterSubnet",
        antiAffinity: "clusterAntiAffinity",
        maxmemory: "maxmemory",
        appendonly: "clusterAppendonly",
        appendfsync: "clusterAppendfsync",
        metrics: "metrics",
        passwordRotation: "clusterPasswordRotation",
        passwordGraceSeconds: "passwordGraceSeconds",
        "ca.generation": "clusterCaGeneration",
        "ca.graceHours": "caGraceHours",
    },
    // Checks across components name the keys themselves.
    stack: {
        chainSubnet: "chainSubnet",
        tunnelSubnet: "tunnelSubnet",
        clusterSubnet: "clusterSubnet",
        clusterHosts: "clusterHosts",
        metrics: "metrics",
    },
};

/** A component's ValidationError as one naming the stack config key instead of the component's field. */
function configError(component: keyof typeof CONFIG_KEYS, name: string, e: unknown): unknown {
    if (!(e instanceof ValidationError)) return e;
    // A nested field (ca.generation) has a key of its own; others go by their first part (hosts[1].subnet).
    const nested = /^[A-Za-z]+\.[A-Za-z]+/.exec(e.field)?.[0];
    const root = nested && CONFIG_KEYS[component][nested] ? nested : /^[A-Za-z]*/.exec(e.field)![0];
    const key = CONFIG_KEYS[component][root];
    return e.relabel(key ? `stack config ${PROJECT}:${key}${e.field.slice(root.length)}` : `${name}: ${e.label}`);
}

/** Runs `check`; a ValidationError is re-thrown naming the stack config key (configError). */
function asConfig<T>(component: keyof typeof CONFIG_KEYS, name: string, check: () => T): T {
    try {
        return check();
    } catch (e) {
        throw configError(component, name, e);
    }
}

/**
 * Every check the components would make, run before any of them exists, plus one across them: the networks that
 * share the local Docker engine must not overlap (Docker would refuse the second one halfway through `pulumi up`).
 */
export function checkSettings(stack: string, s: StackSettings): void {
    const local: { field: string; cidr: string }[] = [];
    if (s.chain) {
        const head = asConfig("chain", `chain-${stack}`, () => resolveChainArgs(`chain-${stack}`, s.chain))[0];
        asConfig("tunnel", `tunnel-${stack}`, () =>
            resolveTunnelArgs(`tunnel-${stack}`, { ...s.tunnel, targetHost: head.name, targetPort: head.plainPort || head.tlsPort }),
        );
        local.push({ field: "chainSubnet", cidr: s.chain.subnet! }, { field: "tunnelSubnet", cidr: s.tunnel!.subnet });
        const metrics = asConfig("chain", `chain-${stack}`, () => chainMetricsPlan(s.chain!));
        if (metrics) local.push({ field: "metrics (the chain exporter's network)", cidr: metrics.subnet });
    }
    if (s.cluster) {
        const { hosts, subnets, metrics } = asConfig("cluster", `cluster-${stack}`, () =>
            resolveClusterArgs(`cluster-${stack}`, s.cluster),
        );
        // The exporter's network is on the first host's engine.
        if (metrics && hosts[0].dockerHost === undefined)
            local.push({ field: "metrics (the cluster exporter's network)", cidr: metrics.subnet });
        // At most one host is the local engine (resolveClusterArgs checks): the one without a dockerHost.
        const i = hosts.findIndex(h => h.dockerHost === undefined);
        if (i >= 0)
            local.push({
                field: hosts[i].subnet !== undefined ? `clusterHosts[${i}].subnet` : "clusterSubnet",
                cidr: subnets.get(hosts[i].name)!,
            });
    }
    asConfig("stack", stack, () => v.disjointSubnets(local));
}

/**
 * The stack's components and outputs. Before any resource, the settings are checked (checkSettings) and every
 * clusterHosts engine must answer, so an unreachable one fails naming its key, with nothing created.
 */
export async function deploy(): Promise<Record<string, unknown>> {
    const stack = pulumi.getStack();
    const s = stackSettings(new pulumi.Config());
    checkSettings(stack, s);
    if (s.cluster?.hosts)
        await checkEngines(s.cluster.hosts).catch(e => {
            throw configError("cluster", `cluster-${stack}`, e);
        });
    const out: Record<string, unknown> = {};

    if (s.chain && s.tunnel) {
        const chain = new ReplicationChain(`chain-${stack}`, s.chain);
        const head = chain.nodes[0];
        const tunnel = new SpipedTunnel(`tunnel-${stack}`, {
            networkName: chain.networkName,
            targetHost: head.name,
            targetPort: head.plainPort || head.tlsPort,
            ...s.tunnel,
        });
        out.chain = {
            nodes: chain.nodes,
            caCertPem: chain.caCertPem,
            clientCertPem: chain.clientCertPem,
            clientKeyPem: chain.clientKeyPem,
            appUser: chain.appUser,
            // What `redis-secure-topologies backup --output chain` logs in as.
            adminUser: chain.adminUser,
            ...(chain.metrics && { metrics: chain.metrics }),
        };
        out.tunnel = { host: tunnel.listenAddress, port: tunnel.listenPort };
    }

    if (s.cluster) {
        const cluster = new RedisCluster(`cluster-${stack}`, s.cluster);
        // Also what `redis-secure-topologies guard --stack` reads: the plan, tls, the CA/client cert and the admin user.
        out.cluster = clusterOutputs(cluster);
    }
    return out;
}
