export { CertificateAuthority, Certificate, CertificateAuthorityArgs, CertificateArgs, CertificateLifetime } from "./pki";
export { SpipedTunnel, SpipedTunnelArgs, resolveTunnelArgs, TUNNEL_DEFAULTS } from "./spiped";
export { ClusterGateway, ClusterGatewayArgs, gatewayPlan, GATEWAY_DEFAULTS } from "./gateway";
export { ReplicationChain, ReplicationChainArgs, chainMetricsPlan, resolveChainArgs, CHAIN_DEFAULTS } from "./replication";
export { MetricsArgs, MetricsOutput, metricsPlan } from "./metrics";
export { backup, restore, topologyFromOutputs, readBackup, Manifest, Topology } from "./backup";
export {
    RedisCluster,
    RedisClusterArgs,
    CLUSTER_DEFAULTS,
    ClusterHost,
    ClusterHostNetwork,
    ClusterBootstrap,
    checkEngines,
    clusterOutputs,
    RedisClusterOutputs,
    resolveClusterArgs,
} from "./cluster";
export { RedisUsers, UserPasswordRotation } from "./redis/users";
export { PasswordRotation } from "./redis/rotation";
export { DEFAULT_IMAGE } from "./redis/node";
export { ValidationError } from "./validate";
export * as client from "./client";
export { LockQuorum, LockQuorumArgs, planQuorum, QuorumNode, QuorumShape, validateQuorumSize, QUORUM_DEFAULTS } from "./quorum";
