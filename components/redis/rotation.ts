// PasswordRotation: a Pulumi dynamic resource that changes the ACL users' passwords of running nodes without
// restarting them or breaking a replication link. A new password is added beside the current one on every node
// (ACL SETUSER user #<sha256>), every replica's masterauth switches to the new replication password (CONFIG SET),
// and the old password is dropped (ACL SETUSER user !<sha256>) on the next `pulumi up`, or the first one after
// `graceSeconds`. Its `live` output (hashes only) is what the nodes' users.acl lists, so a node that restarts comes
// back with the same passwords. The state holds hashes, and the admin and replication passwords as secrets. The
// provider is serialized into state: no clients or Pulumi objects; every Redis call is in ./wire.
import * as pulumi from "@pulumi/pulumi";
import { adminLogins, LiveHashes, nextLive, nodesToChange, passwordChanges, retireDue, rotationTimes } from "./rotation-plan";
import { passwordHash } from "./conf";
import * as wire from "./wire";
import type { Auth, TlsMaterial } from "./wire";

export interface RotationNode {
    name: string;
    host: string;
    port: number;
    /** Whether this node's listener is TLS (with the resource's `tls` material). */
    tls: boolean;
    /** Whether it replicates (or may, as a cluster node after a failover): it gets masterauth. */
    masterauth: boolean;
}

export interface PasswordRotationInputs {
    /** A name for messages (the component's). */
    owner: pulumi.Input<string>;
    nodes: pulumi.Input<RotationNode[]>;
    /** Per user, the SHA-256 of the password the program wants now (RedisUsers.hashes). */
    wanted: pulumi.Input<Record<string, string>>;
    /** Secret: the admin user the provider connects as (the wanted one; the last deployed one works too). */
    admin: pulumi.Input<Auth>;
    /** Secret: the replication password every `masterauth` node uses. */
    replicationPassword: pulumi.Input<string>;
    /** Secret: CA (and client certificate for mutual TLS) of the TLS nodes. */
    tls?: pulumi.Input<TlsMaterial>;
    /** The old password of a rotation goes on the first `pulumi up` at least this long after it (default 0: the next). */
    graceSeconds?: pulumi.Input<number>;
}

interface Props {
    owner: string;
    nodes: RotationNode[];
    wanted: Record<string, string>;
    admin: Auth;
    replicationPassword: string;
    tls?: TlsMaterial;
    graceSeconds?: number;
    /** Per user, the hashes of the passwords that work on every node, the current one first. */
    live?: LiveHashes;
    /** Per user with an old password still live: when its rotation began (ms since the epoch). */
    rotatedAt?: Record<string, number>;
}

const TIMEOUT_MS = 10_000;

function due(p: Props, nowMs: number): (user: string) => boolean {
    return user => retireDue(p.live, p.rotatedAt, user, p.graceSeconds ?? 0, nowMs);
}

/** What the inputs decide (secrets compared, never printed). Not `tls`: it is how the provider connects, not what
 *  it changes; a renewed or re-issued client certificate (a CA rotation, which TlsReload rolls out after the nodes
 *  took their files) is no password change, and connecting with it before the nodes trust its CA would fail. */
function inputsOf(p: Props): string {
    return JSON.stringify([p.nodes, p.wanted, p.admin, p.replicationPassword, p.graceSeconds ?? 0]);
}

/** Changes the live nodes from what they have to `live`: adds on every node first, then masterauth on every replica,
 *  then removes; returns one line per change (no secret, no hash). */
async function apply(olds: Props, news: Props, live: LiveHashes): Promise<string[]> {
    const nodes = nodesToChange(olds.nodes, news.nodes);
    const logins = adminLogins(news.admin, olds.admin, olds.live?.admin, passwordHash);
    const actions: string[] = [];
    const onEach = (f: (n: RotationNode, c: wire.RedisClient) => Promise<void>) =>
        Promise.all(
            nodes.map(async n => {
                const connect = (tls?: TlsMaterial) =>
                    wire.connectAsAnyOf({ host: n.host, port: n.port }, logins, {
                        tls: n.tls ? tls : undefined,
                        connectTimeoutMs: TIMEOUT_MS,
                    });
                // The TLS material of the last update works where the new one is not trusted yet (a CA rotated in the same up).
                const c = await connect(news.tls)
                    .catch(e => (n.tls && olds.tls ? connect(olds.tls) : Promise.reject(e)))
                    .catch(e => {
                        throw new Error(`${news.owner}: password rotation cannot log in to ${n.name}: ${(e as Error).message}`);
                    });
                try {
                    await f(n, c);
                } finally {
                    await wire.close(c);
                }
            }),
        );
    const change = (step: "add" | "remove") =>
        onEach(async (n, c) => {
            for (const [user, target] of Object.entries(live)) {
                const ch = passwordChanges(await wire.aclPasswordHashes(c, user), target);
                const only = step === "add" ? { add: ch.add, remove: [] } : { add: [], remove: ch.remove };
                await wire.aclChangePasswords(c, user, only);
                if (only.add.length || only.remove.length)
                    actions.push(`${n.name}: ${user}: ${step === "add" ? `+${only.add.length}` : `-${only.remove.length}`} password`);
            }
        });
    await change("add");
    if (news.replicationPassword !== olds.replicationPassword) {
        await onEach(async (n, c) => {
            if (!n.masterauth) return;
            await wire.setMasterauth(c, news.replicationPassword);
            actions.push(`${n.name}: masterauth switched`);
        });
    }
    await change("remove");
    return actions.sort();
}

export const passwordRotationProvider: pulumi.dynamic.ResourceProvider = {
    async diff(_id: string, olds: Props, news: Props) {
        if (inputsOf(olds) !== inputsOf(news)) return { changes: true };
        // Same inputs: an old password whose time has come is a change (the update drops it).
        return { changes: Object.keys(news.wanted ?? {}).some(due(olds, Date.now())) };
    },

    // The nodes do not run yet (their users.acl comes from `live`): nothing to do on the wire.
    async create(inputs: Props) {
        const live = nextLive(undefined, inputs.wanted, () => false);
        return { id: inputs.owner, outs: { ...inputs, live, rotatedAt: {} } };
    },

    async update(_id: string, olds: Props, news: Props) {
        const now = Date.now();
        const live = nextLive(olds.live, news.wanted, due(olds, now));
        const actions = await apply(olds, news, live);
        // The engine shows the provider's stderr with the update (the dynamic-provider protocol has no other channel).
        for (const a of actions) console.error(`${news.owner}: ${a}`);
        return { outs: { ...news, live, rotatedAt: rotationTimes(olds.live, live, olds.rotatedAt, now) } };
    },

    // The nodes go with their containers.
    async delete() {
        /* nothing to undo on the wire */
    },
};

export class PasswordRotation extends pulumi.dynamic.Resource {
    /** Per user, the hashes of the passwords that work, the current one first (two during a rotation). */
    declare readonly live: pulumi.Output<LiveHashes>;
    declare readonly rotatedAt: pulumi.Output<Record<string, number>>;

    constructor(name: string, args: PasswordRotationInputs, opts?: pulumi.CustomResourceOptions) {
        super(
            passwordRotationProvider,
            name,
            { ...args, live: undefined, rotatedAt: undefined },
            { ...opts, additionalSecretOutputs: ["admin", "replicationPassword", "tls"] },
            "redis",
            "PasswordRotation",
        );
    }
}
