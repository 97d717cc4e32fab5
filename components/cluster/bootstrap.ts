// ClusterBootstrap: a Pulumi dynamic resource that converges the live cluster to the plan on create and on
// every update (MEET, ADDSLOTS, REPLICATE, fail-back, moving slots on scale out/in). Pulumi runs the update after
// creating added containers and before deleting removed ones, so removed nodes still answer while their slots move.
// The provider is serialized into state, so it holds no clients or Pulumi objects; all Redis calls go through
// ../redis/wire via converge().
import * as pulumi from "@pulumi/pulumi";
import { BootstrapNode, converge } from "./converge";

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
        const changes = layout(olds) !== layout(news)
            || JSON.stringify(olds.auth) !== JSON.stringify(news.auth)
            || JSON.stringify(olds.tls ?? null) !== JSON.stringify(news.tls ?? null)
            || olds.timeoutMs !== news.timeoutMs;
        // A different cluster name is a different cluster.
        return { changes, replaces: olds.clusterName !== news.clusterName ? ["clusterName"] : [] };
    },

    async create(inputs: Props) {
        const r = await converge({ nodes: inputs.nodes, auth: inputs.auth, tls: inputs.tls, timeoutMs: inputs.timeoutMs });
        return { id: inputs.clusterName, outs: { ...inputs, nodeIds: r.nodeIds } };
    },

    async update(_id: string, _olds: Props, news: Props) {
        const r = await converge({ nodes: news.nodes, auth: news.auth, tls: news.tls, timeoutMs: news.timeoutMs });
        return { outs: { ...news, nodeIds: r.nodeIds } };
    },

    // The containers are the cluster; deleting them (their own resources) deletes it.
    async delete() { /* nothing to undo on the wire */ },
};

export class ClusterBootstrap extends pulumi.dynamic.Resource {
    declare readonly nodeIds: pulumi.Output<Record<string, string>>;
    declare readonly clusterName: pulumi.Output<string>;

    constructor(name: string, args: ClusterBootstrapInputs, opts?: pulumi.CustomResourceOptions) {
        super(clusterBootstrapProvider, name, { ...args, nodeIds: undefined },
            { ...opts, additionalSecretOutputs: ["auth", "tls"] }, "redis", "ClusterBootstrap");
    }
}
