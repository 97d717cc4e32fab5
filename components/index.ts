export { CertificateAuthority, Certificate, CertificateAuthorityArgs, CertificateArgs, CertificateLifetime } from "./pki";
export { SpipedTunnel, SpipedTunnelArgs, tunnelPlan } from "./spiped";
export { ReplicationChain, ReplicationChainArgs, chainPlan } from "./replication";
export { RedisCluster, RedisClusterArgs, ClusterHost, ClusterBootstrap, checkEngines, clusterOutputs, clusterPlan } from "./cluster";
export { RedisUsers } from "./redis/users";
export { DEFAULT_IMAGE } from "./redis/node";
export { ValidationError } from "./validate";
export * as client from "./client";
export { LockQuorum, LockQuorumArgs } from "./client";
