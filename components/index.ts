export { CertificateAuthority, Certificate, CertificateAuthorityArgs, CertificateArgs } from "./pki";
export { SpipedTunnel, SpipedTunnelArgs } from "./spiped";
export { ReplicationChain, ReplicationChainArgs } from "./replication";
export { RedisCluster, RedisClusterArgs, ClusterHost, ClusterBootstrap } from "./cluster";
export { RedisUsers } from "./redis/users";
export { DEFAULT_IMAGE } from "./redis/node";
export { ValidationError } from "./validate";
export * as client from "./client";
export { LockQuorum, LockQuorumArgs } from "./client";
