// ClusterBootstrap: a Pulumi dynamic resource that converges the live cluster to the plan on create and on
// every update (MEET, ADDSLOTS, REPLICATE, fail-back, moving slots on scale out/in). Pulumi runs the update after
// creating added containers and before deleting removed ones, so removed nodes still answer while their slots move.
// With unchanged inputs, diff reads the live cluster and asks for an update when it drifted from the plan, so a
// plain `pulumi up` repairs; `pulumi refresh` records the findings in `drift`. The provider is serialized into
// state, so it holds no clients or Pulumi objects; all Redis calls go through ../redis/wire via converge() and
// readCluster().
import * as pulumi from "@pulumi/pulumi";
import { BootstrapNode, converge } from "./converge";
import { drift, readCluster } from "./status";

export interface ClusterBootstrapInputs {
    clusterName: pulumi.Input<string>;
    nodes: pulumi.Input<BootstrapNode[]>;
    /** Secret: the admin user the bootstrap authenticates as. */
    auth: pulumi.Input<{ username: string; password: string }>;
    /** Secret: CA (and client cert/key for mutual TLS). Omit for plain-TCP clusters. */
    tls?: pulumi.Input<{ ca: string; cert?: string; key?: string }>;
    timeoutMs?: pulumi.Input<number>;
}

interface Props {
    clusterName: string;
    nodes: BootstrapNode[];
    auth: { username: string; password: string };
    tls?: { ca: string; cert?: string; key?: string };
    timeoutMs?: number;
    nodeIds?: Record<string, string>;
    /** Where the live cluster differed from the plan at the last create, update or refresh. */
    drift?: string[];
}

/** Per node, in parallel: what a diff or refresh may wait for nodes (a preview away from them costs this once). */
const LIVE_READ_MS = 2500;

async function liveDrift(p: Props): Promise<{ findings: string[]; answered: boolean }> {
    const live = await readCluster({ nodes: p.nodes, auth: p.auth, tls: p.tls, timeoutMs: LIVE_READ_MS });
    return { findings: drift(p.nodes, live), answered: live.some(l => l.report) };
}

/** What converge did, one line each (`itsc-m3-r0: CLUSTER REPLICATE itsc-m3`), on the provider's stderr, which the
 *  engine shows with the update: the dynamic-provider protocol has no other channel for it. No line holds a secret. */
function printActions(clusterName: string, actions: string[]): void {
    for (const a of actions) console.error(`${clusterName}: ${a}`);
}

/** What decides the cluster's shape; anything else changing (e.g. a rotated password) is a plain update. */
function layout(p: Props): string {
    return JSON.stringify(p.nodes.map(n => [n.name, n.ip, n.port, n.busPort, n.role, n.masterName ?? null, n.slots ?? null]));
}

export const clusterBootstrapProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: Props, news: Props) {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        if (!Array.isArray(news.nodes)) return { inputs: news, failures }; // unknown during preview
        const names = new Set(news.nodes.map(n => n.name));
        for (const n of news.nodes) {
            if (n.role === "replica" && !names.has(n.masterName ?? "")) {
                failures.push({ property: "nodes", reason: `replica ${n.name} follows unknown master "${n.masterName}"` });
            }
        }
        if (!news.nodes.some(n => n.role === "master")) failures.push({ property: "nodes", reason: "at least one master is required" });
        return { inputs: news, failures };
    },

    async diff(_id: string, olds: Props, news: Props) {
        // A different cluster name is a different cluster.
        const replaces = olds.clusterName !== news.clusterName ? ["clusterName"] : [];
        const changes =
            layout(olds) !== layout(news) ||
            JSON.stringify(olds.auth) !== JSON.stringify(news.auth) ||
            JSON.stringify(olds.tls ?? null) !== JSON.stringify(news.tls ?? null) ||
            olds.timeoutMs !== news.timeoutMs;
        if (changes || replaces.length || !Array.isArray(news.nodes) || typeof news.auth !== "object") return { changes, replaces };
        // Same inputs: drift of the live cluster is a change too, so the update (converge) repairs it.
        const { findings } = await liveDrift(news);
        // The dynamic provider protocol carries no detailed diff; the engine shows the provider's stderr instead.
        for (const f of findings) console.error(`${news.clusterName}: drift: ${f}`);
        return { changes: findings.length > 0, replaces };
    },

    async create(inputs: Props) {
        const r = await converge({ nodes: inputs.nodes, auth: inputs.auth, tls: inputs.tls, timeoutMs: inputs.timeoutMs });
        printActions(inputs.clusterName, r.actions);
        return { id: inputs.clusterName, outs: { ...inputs, nodeIds: r.nodeIds, drift: (await liveDrift(inputs)).findings } };
    },

    async update(_id: string, _olds: Props, news: Props) {
        const r = await converge({ nodes: news.nodes, auth: news.auth, tls: news.tls, timeoutMs: news.timeoutMs });
        printActions(news.clusterName, r.actions);
        return { outs: { ...news, nodeIds: r.nodeIds, drift: (await liveDrift(news)).findings } };
    },

    // `pulumi refresh`: record the live findings; when no node answers, keep what the state says.
    async read(id: string, props: Props) {
        if (!Array.isArray(props?.nodes)) return { id, props };
        const { findings, answered } = await liveDrift(props);
        return { id, props: answered ? { ...props, drift: findings } : props };
    },

    // The containers are the cluster; deleting them (their own resources) deletes it.
    async delete() {
        /* nothing to undo on the wire */
    },
};

export class ClusterBootstrap extends pulumi.dynamic.Resource {
    declare readonly nodeIds: pulumi.Output<Record<string, string>>;
    declare readonly clusterName: pulumi.Output<string>;
    /** Where the live cluster differed from the plan at the last create, update or refresh (empty: it matched). */
    declare readonly drift: pulumi.Output<string[]>;

    constructor(name: string, args: ClusterBootstrapInputs, opts?: pulumi.CustomResourceOptions) {
        super(
            clusterBootstrapProvider,
            name,
            { ...args, nodeIds: undefined, drift: undefined },
            { ...opts, additionalSecretOutputs: ["auth", "tls"] },
            "redis",
            "ClusterBootstrap",
        );
    }
}
