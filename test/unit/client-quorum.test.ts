// LockQuorum's resource graph under Pulumi mocks: one network with the subnet, N containers with static
// addresses and an fsync-always config, the app user exported.
import * as pulumi from "@pulumi/pulumi";

const created: { type: string; name: string; inputs: Record<string, any> }[] = [];
pulumi.runtime.setMocks(
    {
        newResource: a => {
            created.push({ type: a.type, name: a.name, inputs: a.inputs });
            const state: Record<string, unknown> = { ...a.inputs };
            if (a.type === "random:index/randomPassword:RandomPassword") state.result = "x".repeat(32);
            if (a.type === "tls:index/privateKey:PrivateKey") state.privateKeyPem = "KEY";
            if (a.type.startsWith("tls:index/") && a.type.endsWith("Cert:SelfSignedCert")) state.certPem = "CA";
            if (a.type === "tls:index/locallySignedCert:LocallySignedCert") state.certPem = "CERT";
            return { id: `${a.name}-id`, state };
        },
        call: a => a.inputs,
    },
    "project",
    "stack",
    false,
);

import { LockQuorum, LockQuorumArgs } from "../../components/quorum";

const promiseOf = <T>(o: pulumi.Output<T>) => new Promise<T>(r => o.apply(r));
const CONTAINER = "docker:index/container:Container";

/**
 * Constructs a LockQuorum, keeping every resource it constructs (the component and its children, through a
 * transformation, which runs as each is constructed), then waits until the mock monitor has registered each of them
 * (its urn resolves after newResource returned), so `created` is complete, not just what happened to arrive so far.
 * A constructor that throws still leaves what it built in `built`.
 */
async function construct(name: string, args: LockQuorumArgs): Promise<{ quorum?: LockQuorum; error?: unknown; built: pulumi.Resource[] }> {
    const built: pulumi.Resource[] = [];
    let quorum: LockQuorum | undefined;
    let error: unknown;
    try {
        quorum = new LockQuorum(name, args, {
            transformations: [
                a => {
                    built.push(a.resource);
                    return undefined;
                },
            ],
        });
    } catch (e) {
        error = e;
    }
    await Promise.all(built.map(r => promiseOf(r.urn)));
    return { quorum, error, built };
}
/** A file a node gets, from the uploads of its writer container (`<name>-files`). */
const uploaded = (c: { name: string }, file: string): string | undefined => {
    // Secret inputs arrive wrapped ({ <sig>: ..., value }) under mocks.
    const unwrap = (x: any): any => (x && typeof x === "object" && "value" in x && !("file" in x) ? x.value : x);
    const writer = created.find(w => w.type === CONTAINER && w.name === `${c.name}-files`)!;
    return (unwrap(writer.inputs.uploads) as { file: string; content: unknown }[]).map(unwrap).find(u => u.file === file)?.content as
        string | undefined;
};

describe("LockQuorum under mocks", () => {
    beforeEach(() => {
        created.length = 0;
    });

    test("5 independent masters by default, appendonly + appendfsync always, static IPs", async () => {
        const q = (await construct("locks", { subnet: "172.28.5.0/24" })).quorum!;
        expect(q.nodes.map(n => n.ip)).toEqual(["172.28.5.10", "172.28.5.11", "172.28.5.12", "172.28.5.13", "172.28.5.14"]);
        const containers = created.filter(c => c.type === CONTAINER && !c.name.endsWith("-files"));
        expect(containers.map(c => c.name)).toEqual(q.nodes.map(n => n.name));
        const net = created.find(c => c.type === "docker:index/network:Network")!;
        expect(net.inputs.ipamConfigs).toEqual([{ subnet: "172.28.5.0/24" }]);
        for (const c of containers) {
            const conf = uploaded(c, "/etc/redis-secure/redis.conf")!;
            expect(conf).toContain("appendonly yes");
            expect(conf).toContain("appendfsync always");
            expect(conf).not.toMatch(/replicaof|cluster-enabled/);
            expect(conf).toContain("port 6379");
            // The start script, with no crash wait: nothing fails over to in a quorum, and every write is on disk.
            expect(c.inputs.command).toEqual(["sh", "/etc/redis-secure/start.sh"]);
            expect(uploaded(c, "/etc/redis-secure/start.sh")).not.toContain("sleep");
        }
        expect(created.some(c => c.type.startsWith("tls:"))).toBe(false);
        expect(q.appUser.username).toBe("app");
        expect(q.adminUser.username).toBe("admin");
        expect(await promiseOf(q.networkName)).toBe("locks-net");
    });

    test("tls: TLS-only listeners and a CA", async () => {
        const q = (await construct("tlocks", { size: 3, tls: true })).quorum!;
        expect(await promiseOf(q.caCertPem!)).toBe("CA");
        const containers = created.filter(c => c.type === CONTAINER && !c.name.endsWith("-files"));
        expect(containers).toHaveLength(3);
        const conf = uploaded(containers[0], "/etc/redis-secure/redis.conf")!;
        expect(conf).toContain("port 0");
        expect(conf).toContain("tls-port 6379");
    });

    test("an even size is refused before anything is created", async () => {
        const r = await construct("bad", { size: 4 });
        expect(r.error).toBeInstanceOf(Error);
        expect((r.error as Error).message).toContain("size must be an odd integer from 3 to 15");
        // Only the component itself was constructed, and every registration has arrived: no child.
        expect(r.built.map(b => b.constructor.name)).toEqual(["LockQuorum"]);
        expect(created.map(c => c.type)).toEqual(["redis-secure-topologies:quorum:LockQuorum"]);
    });
});
