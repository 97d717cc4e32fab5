// The replication chain as pure data. Node 0 is the master; node i replicates node i-1 over hops[i-1].
// A node listens on the transport of the hop that reaches it (node 0: headListener) and of the hop it serves,
// so the seed layout A(plain) -> B(plain+TLS) -> C(TLS only, port 0) is hops ["plain", "tls"].
import * as v from "../validate";

export const TRANSPORTS = ["plain", "tls"] as const;
export type Transport = (typeof TRANSPORTS)[number];

export interface ChainShape {
    name: string;
    hops: Transport[];
    /** How clients reach the master (node 0). */
    headListener: Transport;
    plainPort: number;
    tlsPort: number;
    subnet: string;
}

export interface ChainNode {
    name: string;
    ip: string;
    /** 0 when the node has no plain listener. */
    plainPort: number;
    /** 0 when the node has no TLS listener. */
    tlsPort: number;
    replicaOf?: { name: string; ip: string; port: number; tls: boolean };
}

export function validateChain(s: ChainShape): void {
    v.dnsLabel("name", s.name);
    if (!Array.isArray(s.hops) || s.hops.length < 1 || s.hops.length > 9)
        v.fail("hops", 'a list of 1 to 9 transports ("plain" or "tls")', s.hops);
    s.hops.forEach((h, i) => v.oneOf(`hops[${i}]`, h, TRANSPORTS));
    v.oneOf("headListener", s.headListener, TRANSPORTS);
    v.port("plainPort", s.plainPort);
    v.port("tlsPort", s.tlsPort);
    v.distinctPorts("plainPort/tlsPort", [s.plainPort, s.tlsPort]);
    v.subnet("subnet", s.subnet);
}

/** Every node of the chain: its name, address, listeners and upstream (resolveChainArgs checks the component's args, then calls this). */
export function placeChainNodes(s: ChainShape): ChainNode[] {
    validateChain(s);
    const net = v.subnet("subnet", s.subnet);
    const nodes: ChainNode[] = [];
    for (let i = 0; i <= s.hops.length; i++) {
        const incoming = i === 0 ? s.headListener : s.hops[i - 1];
        const outgoing = s.hops[i] as Transport | undefined;
        const listens = new Set([incoming, outgoing].filter(Boolean));
        const prev = nodes[i - 1];
        nodes.push({
            name: `${s.name}-${String.fromCharCode(97 + i)}`,
            ip: v.addressIn(net, 10 + i),
            plainPort: listens.has("plain") ? s.plainPort : 0,
            tlsPort: listens.has("tls") ? s.tlsPort : 0,
            replicaOf: prev && {
                name: prev.name,
                ip: prev.ip,
                port: incoming === "tls" ? prev.tlsPort : prev.plainPort,
                tls: incoming === "tls",
            },
        });
    }
    return nodes;
}
