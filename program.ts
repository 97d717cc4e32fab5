// The project's program: reads stack config, checks every component's settings before creating anything (so a bad
// stack config fails at preview naming its key, with nothing half-created), then passes plain Args to the components
// (which never read config). index.ts exports its outputs for `pulumi up`; scripts/stack.ts, the tests and the
// benchmark run it in-process (scripts/workspace.ts).
import * as pulumi from "@pulumi/pulumi";
import {
    CHAIN_DEFAULTS,
    chainMetricsPlan,
    resolveChainArgs,
    checkEngines,
    CLUSTER_DEFAULTS,
    ClusterHost,
    clusterOutputs,
    resolveClusterArgs,
    RedisCluster,
    RedisClusterArgs,
    ReplicationChain,
    ReplicationChainArgs,
    SpipedTunnel,
    resolveTunnelArgs,
    TUNNEL_DEFAULTS,
    UserPasswordRotation,
    ValidationError,
} from "./components";
import { CA_ROTATION_DEFAULTS, CaRotation } from "./components/pki";
import { AppendFsync } from "./components/redis/conf";
import { DEFAULT_GRACE_SECONDS } from "./components/redis/users";
import { Transport } from "./components/replication";
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

type Component = keyof StackSettings;
/** A field of a component's args, or of its `ca` ("ca.graceHours"). */
type Field<A> = Exclude<keyof A & string, "ca"> | ("ca" extends keyof A ? `ca.${keyof CaRotation}` : never);
type Sets = { [C in Component]?: Field<NonNullable<StackSettings[C]>>[] };
type ConfigType = "string" | "integer" | "boolean" | "array" | "object";

/** A stack config key: its type and default as Pulumi.yaml writes them, and the component fields it sets. */
interface ConfigKey<T> {
    type: ConfigType;
    default: T;
    sets: Sets;
}

// One overload per config type, so that a key's value has that type in TypeScript too (or a narrower one: AppendFsync).
function key<T extends string = string>(type: "string", def: NoInfer<T>, sets?: Sets): ConfigKey<T>;
function key(type: "integer", def: number, sets?: Sets): ConfigKey<number>;
function key(type: "boolean", def: boolean, sets?: Sets): ConfigKey<boolean>;
function key<T>(type: "array", def: NoInfer<T>[], sets?: Sets): ConfigKey<T[]>;
function key<T extends object>(type: "object", def: NoInfer<T>, sets?: Sets): ConfigKey<T>;
function key<T>(type: ConfigType, def: T, sets: Sets = {}): ConfigKey<T> {
    return { type, default: def, sets };
}

/**
 * Every stack config key. Pulumi.yaml writes the same types and defaults for the plain `pulumi` CLI (a unit test checks
 * that they are these); the fields a key sets are how a component's ValidationError names the key (configError).
 * A default is the component's own (its *_DEFAULTS) unless a comment says why not.
 */
export const STACK_CONFIG = {
    deployChain: key("boolean", true),
    deployCluster: key("boolean", true),
    chainHops: key<Transport>("array", [...CHAIN_DEFAULTS.hops], { chain: ["hops"] }),
    chainSubnet: key("string", CHAIN_DEFAULTS.subnet, { chain: ["subnet"] }),
    chainAppendfsync: key<AppendFsync>("string", CHAIN_DEFAULTS.appendfsync, { chain: ["appendfsync"] }),
    // No rotation, as the component's unset passwordRotation (YAML's object type needs an object).
    chainPasswordRotation: key<UserPasswordRotation>("object", {}, { chain: ["passwordRotation"] }),
    chainCaGeneration: key("integer", CA_ROTATION_DEFAULTS.generation, { chain: ["ca.generation"] }),
    tunnelListenPort: key("integer", TUNNEL_DEFAULTS.listenPort, { tunnel: ["listenPort"] }),
    tunnelSubnet: key("string", TUNNEL_DEFAULTS.subnet, { tunnel: ["subnet"] }),
    clusterMasters: key("integer", CLUSTER_DEFAULTS.masters, { cluster: ["masters"] }),
    clusterReplicasPerMaster: key("integer", CLUSTER_DEFAULTS.replicasPerMaster, { cluster: ["replicasPerMaster"] }),
    // Empty: hosts unset (stackSettings), so the component's default applies (the local engine).
    clusterHosts: key<ClusterHost>("array", [], { cluster: ["hosts"] }),
    clusterSubnet: key("string", CLUSTER_DEFAULTS.subnet, { cluster: ["subnet"] }),
    clusterMutualTls: key("boolean", CLUSTER_DEFAULTS.mutualTls, { cluster: ["mutualTls"] }),
    clusterAntiAffinity: key<"hard" | "soft">("string", CLUSTER_DEFAULTS.antiAffinity, { cluster: ["antiAffinity"] }),
    clusterAppendonly: key("boolean", CLUSTER_DEFAULTS.appendonly, { cluster: ["appendonly"] }),
    clusterAppendfsync: key<AppendFsync>("string", CLUSTER_DEFAULTS.appendfsync, { cluster: ["appendfsync"] }),
    clusterPasswordRotation: key<UserPasswordRotation>("object", {}, { cluster: ["passwordRotation"] }),
    clusterCaGeneration: key("integer", CA_ROTATION_DEFAULTS.generation, { cluster: ["ca.generation"] }),
    // The components set no maxmemory (Redis's: no limit); a stack caps every node on purpose.
    maxmemory: key("string", "256mb", { chain: ["maxmemory"], cluster: ["maxmemory"] }),
    // One key for both components; false leaves their metrics unset (stackSettings), and both default to no exporter.
    metrics: key("boolean", false, { chain: ["metrics"], cluster: ["metrics"] }),
    passwordGraceSeconds: key("integer", DEFAULT_GRACE_SECONDS, { chain: ["passwordGraceSeconds"], cluster: ["passwordGraceSeconds"] }),
    caGraceHours: key("integer", CA_ROTATION_DEFAULTS.graceHours, { chain: ["ca.graceHours"], cluster: ["ca.graceHours"] }),
};
type StackKey = keyof typeof STACK_CONFIG;
const STACK_KEYS = Object.keys(STACK_CONFIG) as StackKey[];
type Value<K extends StackKey> = (typeof STACK_CONFIG)[K]["default"];

/** The pulumi.Config getter of each config type. */
const READ: Record<ConfigType, (cfg: ConfigReader, key: string) => unknown> = {
    string: (cfg, k) => cfg.get(k),
    integer: (cfg, k) => cfg.getNumber(k),
    boolean: (cfg, k) => cfg.getBoolean(k),
    array: (cfg, k) => cfg.getObject(k),
    object: (cfg, k) => cfg.getObject(k),
};

const nonEmpty = <T>(list: T[] | undefined) => (Array.isArray(list) && list.length === 0 ? undefined : list);

/** Stack config as component args. */
export function stackSettings(cfg: ConfigReader): StackSettings {
    // Unchecked (as pulumi.Config's getters are): the components check every value.
    const given = <K extends StackKey>(k: K) => READ[STACK_CONFIG[k].type](cfg, k) as Value<K> | undefined;
    const get = <K extends StackKey>(k: K): Value<K> => given(k) ?? STACK_CONFIG[k].default;
    const out: StackSettings = {};
    if (get("deployChain")) {
        // The spiped tunnel in front of the head decrypts to Redis's plain protocol, so the head listens in plain text
        // (on the chain's internal network only) whatever the hops are.
        out.chain = {
            hops: get("chainHops"),
            headListener: "plain",
            subnet: get("chainSubnet"),
            maxmemory: get("maxmemory"),
            appendfsync: get("chainAppendfsync"),
            ...(get("metrics") && { metrics: true }),
            // As given: unset, the components' own defaults (the same as Pulumi.yaml's) apply.
            passwordRotation: given("chainPasswordRotation"),
            passwordGraceSeconds: given("passwordGraceSeconds"),
            ca: { generation: get("chainCaGeneration"), graceHours: get("caGraceHours") },
        };
        out.tunnel = { listenPort: get("tunnelListenPort"), subnet: get("tunnelSubnet") };
    }
    if (get("deployCluster")) {
        out.cluster = {
            masters: get("clusterMasters"),
            replicasPerMaster: get("clusterReplicasPerMaster"),
            hosts: nonEmpty(get("clusterHosts")),
            subnet: get("clusterSubnet"),
            mutualTls: get("clusterMutualTls"),
            antiAffinity: get("clusterAntiAffinity"),
            maxmemory: get("maxmemory"),
            appendonly: get("clusterAppendonly"),
            appendfsync: get("clusterAppendfsync"),
            ...(get("metrics") && { metrics: true }),
            passwordRotation: given("clusterPasswordRotation"),
            passwordGraceSeconds: given("passwordGraceSeconds"),
            ca: { generation: get("clusterCaGeneration"), graceHours: get("caGraceHours") },
        };
    }
    return out;
}

/** Per component, which stack config key sets each field (the first part of a field such as "hosts[1].subnet"). */
const fieldKeys = (c: Component): Record<string, StackKey> =>
    Object.fromEntries(STACK_KEYS.flatMap(k => (STACK_CONFIG[k].sets[c] ?? []).map(field => [field, k])));
const CONFIG_KEYS: Record<Component | "stack", Record<string, StackKey>> = {
    chain: fieldKeys("chain"),
    tunnel: fieldKeys("tunnel"),
    cluster: fieldKeys("cluster"),
    // Checks across components name the keys themselves.
    stack: Object.fromEntries(STACK_KEYS.map(k => [k, k])),
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
