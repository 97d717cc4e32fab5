// TlsReload: a Pulumi dynamic resource that loads new TLS files (a renewed certificate, a rotated CA) into the running
// nodes of one topology with CONFIG SET, one node at a time, each checked before the next; no container is replaced.
// The files are already on the node's volume (hot uploads of its writer, in a directory named after their content).
// Its state records what each node serves (certificate fingerprint, trusted CAs' fingerprints, directory), so a
// preview names the nodes that will rotate and a second `pulumi up` does nothing. Serialized into state: no clients,
// no Pulumi objects; Redis calls go through ./wire.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import * as w from "./wire";

export interface ReloadNode {
    name: string;
    /** Address and TLS port the reload connects to. */
    host: string;
    port: number;
    /** The node's versioned TLS directory (ca.crt, node.crt, node.key). */
    dir: string;
    certPem: string;
    /** Replicas are checked for `master_link_status:up`; cluster nodes for `cluster_state:ok`. */
    replica: boolean;
    cluster: boolean;
}

/** What a node serves: its certificate's and its trusted CAs' SHA-256 fingerprints (public), from which directory. */
export interface Served {
    dir: string;
    fingerprint: string;
    ca: string[];
}

/** A node as TlsReload's inputs take it (each field may be an output still to come, e.g. a new certificate). */
export type TlsReloadNode = { [K in keyof ReloadNode]: pulumi.Input<ReloadNode[K]> };

export interface TlsReloadInputs {
    topology: pulumi.Input<string>;
    nodes: pulumi.Input<pulumi.Input<TlsReloadNode>[]>;
    /** The CA bundle the nodes trust (one CA, or the old and the new one during a CA rotation). */
    caPem: pulumi.Input<string>;
    /** Secret: the admin user. */
    auth: pulumi.Input<{ username: string; password: string }>;
    /** Secret: a client certificate for nodes that require one (mutual TLS). */
    client?: pulumi.Input<{ cert: string; key: string }>;
    /** The nodes' writers' `hot` digests: they resolve once every writer wrote, so the reload runs after them. Not
     *  compared: a writer replaced for another file (unknown in a preview) is no rotation. */
    written: pulumi.Input<pulumi.Input<string>[]>;
}

interface Props {
    topology: string;
    written?: unknown;
    nodes: ReloadNode[];
    caPem: string;
    auth: { username: string; password: string };
    client?: { cert: string; key: string };
    served?: Record<string, Served>;
}

/** Fingerprints of every certificate in a PEM bundle. */
export function pemFingerprints(bundle: string): string[] {
    return (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
        p => new crypto.X509Certificate(p).fingerprint256,
    );
}

/** What each node should serve once the inputs are loaded. */
export function desiredServed(nodes: ReloadNode[], caPem: string): Record<string, Served> {
    const ca = pemFingerprints(caPem);
    return Object.fromEntries(
        nodes.map(n => [n.name, { dir: n.dir, fingerprint: new crypto.X509Certificate(n.certPem).fingerprint256, ca }]),
    );
}

/**
 * The rotation, from what the nodes serve to what they should: `trust` first, on every node that will trust a CA it
 * does not yet (its current certificate kept), so no node meets a peer's new certificate before it trusts its
 * issuer; then `roll`, one node at a time, each to its new directory; `fresh` nodes (not served before) are only
 * read. Nodes keep `order`.
 */
export function rotationPlan(
    served: Record<string, Served>,
    desired: Record<string, Served>,
    order: string[],
): { trust: string[]; roll: string[]; fresh: string[] } {
    const known = order.filter(n => served[n]);
    return {
        trust: known.filter(n => desired[n].ca.some(f => !served[n].ca.includes(f)) && served[n].dir !== desired[n].dir),
        roll: known.filter(n => served[n].dir !== desired[n].dir || served[n].fingerprint !== desired[n].fingerprint),
        fresh: order.filter(n => !served[n]),
    };
}

/** Why a node is not healthy yet (undefined: it is): a replica's link down, a cluster node's state not ok. */
export function unhealthy(
    n: Pick<ReloadNode, "name" | "replica" | "cluster">,
    replication: Record<string, string>,
    cluster?: Record<string, string>,
): string | undefined {
    if (n.replica && replication.master_link_status !== "up")
        return `${n.name}: master_link_status ${replication.master_link_status ?? "(none)"}`;
    if (n.cluster && cluster?.cluster_state !== "ok") return `${n.name}: cluster_state ${cluster?.cluster_state ?? "(none)"}`;
    return undefined;
}

/** How long one node may take to serve its new certificate and be healthy again. */
const STEP_MS = 30_000;

/** Every TLS listener of `p` (one topology) serves `want`'s fingerprint, then every node is healthy. */
async function settle(p: Props, o: w.ConnectOptions, want: Record<string, Served>, names: string[]): Promise<void> {
    for (const name of names) {
        const n = p.nodes.find(x => x.name === name)!;
        await w.waitUntil(
            `${name} to serve certificate ${want[name].fingerprint.slice(0, 23)}...`,
            async () => {
                const fp = await w.servedFingerprint(n, o.tls!);
                return fp === want[name].fingerprint || `it serves ${fp.slice(0, 23)}...`;
            },
            STEP_MS,
            100,
        );
    }
}

async function healthy(p: Props, o: w.ConnectOptions): Promise<void> {
    await w.waitUntil(
        `${p.topology} to be healthy`,
        async () => {
            for (const n of p.nodes) {
                const why = await w.withClient(n, o, async c =>
                    unhealthy(n, await w.info(c, "replication"), n.cluster ? await w.clusterInfo(c) : undefined),
                );
                if (why) return why;
            }
            return true;
        },
        STEP_MS,
        100,
    );
}

const files = (dir: string) => ({ cert: `${dir}/node.crt`, key: `${dir}/node.key`, ca: `${dir}/ca.crt` });

async function rotate(olds: Props | undefined, p: Props): Promise<Record<string, Served>> {
    const want = desiredServed(p.nodes, p.caPem);
    const served = olds?.served ?? {};
    const plan = rotationPlan(
        served,
        want,
        p.nodes.map(n => n.name),
    );
    // The reload trusts both bundles: nodes serve their old certificate until their turn.
    const ca = [olds?.caPem, p.caPem].filter(Boolean).join("\n");
    const opts = (client?: { cert: string; key: string }) => ({ auth: p.auth, tls: { ca, cert: client?.cert, key: client?.key } });
    const log = (s: string) => console.error(`${p.topology}: ${s}`);
    for (const name of plan.trust) {
        // Until every node trusts the new CA, the nodes trust the old client certificate only.
        const n = p.nodes.find(x => x.name === name)!;
        await w.withClient(n, opts(olds?.client ?? p.client), c =>
            w.loadTls(c, { ...files(served[name].dir), ca: `${want[name].dir}/ca.crt` }),
        );
        log(`${name}: CONFIG SET tls-ca-cert-file ${want[name].dir}/ca.crt (trusts ${want[name].ca.length} CA)`);
    }
    for (const name of plan.roll) {
        const n = p.nodes.find(x => x.name === name)!;
        await w.withClient(n, opts(p.client), c => w.loadTls(c, files(want[name].dir)));
        await settle(p, opts(p.client), want, [name]);
        await healthy(p, opts(p.client));
        log(`${name}: CONFIG SET tls-* ${want[name].dir}: serves ${want[name].fingerprint.slice(0, 23)}..., every node healthy`);
    }
    await settle(p, opts(p.client), want, plan.fresh);
    return want;
}

/** A preview hands a dynamic provider pulumi.runtime.unknownValue for a value not known yet. */
const isKnown = (v: unknown) => typeof v === "string" && v !== pulumi.runtime.unknownValue;

function known(p: Props): boolean {
    return isKnown(p.caPem) && p.nodes.every(n => isKnown(n.dir) && isKnown(n.certPem));
}

export const tlsReloadProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: Props, news: Props) {
        return { inputs: news };
    },

    async diff(_id: string, olds: Props, news: Props) {
        const replaces = olds.topology !== news.topology ? ["topology"] : [];
        if (!Array.isArray(news.nodes)) return { changes: true, replaces };
        if (!known(news)) {
            // In a preview, new certificates (or a new CA bundle) are not issued yet: the nodes that get them rotate.
            const pending = news.nodes.filter(n => !isKnown(news.caPem) || !isKnown(n.dir) || !isKnown(n.certPem));
            console.error(`${news.topology}: will rotate ${pending.map(n => n.name).join(", ")} (new TLS files)`);
            return { changes: true, replaces };
        }
        const plan = rotationPlan(
            olds.served ?? {},
            desiredServed(news.nodes, news.caPem),
            news.nodes.map(n => n.name),
        );
        const gone = Object.keys(olds.served ?? {}).filter(n => !news.nodes.some(x => x.name === n));
        // The dynamic provider protocol carries no detailed diff; the engine shows the provider's stderr instead.
        if (plan.roll.length)
            console.error(
                `${news.topology}: will rotate ${plan.roll.join(", ")}${plan.trust.length ? ` (trusting the new CA first on ${plan.trust.join(", ")})` : ""}`,
            );
        return { changes: plan.roll.length + plan.fresh.length + gone.length > 0 || replaces.length > 0, replaces };
    },

    async create(inputs: Props) {
        return { id: inputs.topology, outs: { ...inputs, served: await rotate(undefined, inputs) } };
    },

    async update(_id: string, olds: Props, news: Props) {
        return { outs: { ...news, served: await rotate(olds, news) } };
    },

    // Nothing to undo: the containers hold the files.
    async delete() {
        /* nothing on the wire */
    },
};

export class TlsReload extends pulumi.dynamic.Resource {
    /** Per node: the fingerprint of the certificate it serves, its trusted CAs' and the directory they came from. */
    declare readonly served: pulumi.Output<Record<string, Served>>;

    constructor(name: string, args: TlsReloadInputs, opts?: pulumi.CustomResourceOptions) {
        super(
            tlsReloadProvider,
            name,
            { ...args, served: undefined },
            { ...opts, additionalSecretOutputs: ["auth", "client"] },
            "redis",
            "TlsReload",
        );
    }
}
