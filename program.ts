// The project's program: reads stack config and passes plain Args to the components (which never read config).
// index.ts exports its outputs for `pulumi up`; scripts/up.ts and the stack tests run it in-process.
import * as pulumi from "@pulumi/pulumi";
import { RedisCluster, ReplicationChain, SpipedTunnel } from "./components";

export function deploy(): Record<string, unknown> {
    const cfg = new pulumi.Config();
    const stack = pulumi.getStack();
    const maxmemory = cfg.get("maxmemory") ?? "256mb";
    const out: Record<string, unknown> = {};

    if (cfg.getBoolean("deployChain") ?? true) {
        const chain = new ReplicationChain(`chain-${stack}`, {
            hops: cfg.getObject<("plain" | "tls")[]>("chainHops") ?? ["plain", "tls"],
            subnet: cfg.get("chainSubnet") ?? "172.31.0.0/24",
            maxmemory,
        });
        const head = chain.nodes[0];
        const tunnel = new SpipedTunnel(`tunnel-${stack}`, {
            networkName: chain.networkName,
            targetHost: head.name,
            targetPort: head.plainPort || head.tlsPort,
            listenPort: cfg.getNumber("tunnelListenPort") ?? 6390,
            subnet: cfg.get("tunnelSubnet") ?? "172.31.1.0/24",
        });
        out.chain = {
            nodes: chain.nodes, caCertPem: chain.caCertPem, clientCertPem: chain.clientCertPem,
            clientKeyPem: chain.clientKeyPem, appUser: chain.appUser,
        };
        out.tunnel = { host: tunnel.listenAddress, port: tunnel.listenPort };
    }

    if (cfg.getBoolean("deployCluster") ?? true) {
        const cluster = new RedisCluster(`cluster-${stack}`, {
            masters: cfg.getNumber("clusterMasters") ?? 3,
            replicasPerMaster: cfg.getNumber("clusterReplicasPerMaster") ?? 1,
            subnet: cfg.get("clusterSubnet") ?? "172.30.0.0/24",
            mutualTls: cfg.getBoolean("clusterMutualTls") ?? false,
            antiAffinity: (cfg.get("clusterAntiAffinity") ?? "hard") as "hard" | "soft",
            maxmemory,
        });
        // Also what `redis-secure-topologies guard --stack` reads: the plan, tls, the CA/client cert and the admin user.
        out.cluster = {
            nodes: cluster.nodes, nodeIds: cluster.nodeIds, drift: cluster.drift, tls: cluster.tls, caCertPem: cluster.caCertPem,
            clientCertPem: cluster.clientCertPem, clientKeyPem: cluster.clientKeyPem,
            appUser: cluster.appUser, adminUser: cluster.adminUser,
        };
    }
    return out;
}
