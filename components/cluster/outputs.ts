// The contract between a program that deploys a RedisCluster and the tools that later find it from the stack's
// outputs: clusterOutputs() builds it from the component, the guard and the backup read it back.
import type * as pulumi from "@pulumi/pulumi";
import type { MetricsOutput } from "../metrics/plan";
import type { PlannedNode } from "./plan";

/** What a stack exports for a RedisCluster, resolved (as `pulumi stack output --json --show-secrets` prints it). */
export interface RedisClusterOutputs {
    nodes: PlannedNode[];
    /** Node name -> the node's cluster id. */
    nodeIds: Record<string, string>;
    /** Where the live cluster differed from the plan at the last `pulumi up` or `refresh` (empty: it matched). */
    drift: string[];
    tls: boolean;
    caCertPem: string;
    /** With `mutualTls` only. */
    clientCertPem?: string;
    /** Secret; with `mutualTls` only. */
    clientKeyPem?: string;
    /** Its password is secret. */
    appUser: { username: string; password: string };
    /** Its password is secret. */
    adminUser: { username: string; password: string };
    metrics?: MetricsOutput;
}

/** T's fields as a program exports them: each, or any part of it, may still be an Output or a promise. */
export type Exported<T> = { [K in keyof T]: DeepInput<T[K]> };
type DeepInput<T> = pulumi.Input<T extends object ? { [K in keyof T]: DeepInput<T[K]> } : T>;
