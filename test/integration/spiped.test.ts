// SpipedTunnel deployed by the real engine and providers in front of a real Redis (the head of a ReplicationChain,
// on its internal network): the component's client end (published on loopback) encrypts to its server end, which
// forwards to Redis. The checks inspect the component's own containers; the only hand-built containers are spiped
// clients with a chosen key (no component makes a client with another key), the controls for "the key matters".
import type { Stack } from "@pulumi/pulumi/automation";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import { ReplicationChain } from "../../components/replication";
import { clientCommand, KEY_BYTES, KEY_CHARS, SpipedTunnel, SpipedTunnelArgs, resolveTunnelArgs } from "../../components/spiped";
import { DEFAULT_IMAGE } from "../../components/redis/node";
import { KEY_DIR, KEY_FILE } from "../../components/spiped/plan";
import * as wire from "../../components/redis/wire";
import { plainOutputs, stateSecrets, tearDown, testStack } from "./deploy";
import { docker, expectNoSecrets, freePort, Scope } from "./harness";

jest.setTimeout(300_000);

const REDIS_SUBNET = "172.25.11.0/24";
const TUNNEL_SUBNET = "172.25.14.0/24";
const TUNNEL_NET = "itsp-net"; // SpipedTunnel "itsp" names its network <name>-net
const TUNNEL_IMAGE = "rst-it/itsp:build";

describe("SpipedTunnel deployed through the engine, in front of a ReplicationChain head", () => {
    const scope = new Scope();
    let stack: Stack | undefined;
    let rotation = "";
    let tunnelArgs: SpipedTunnelArgs;
    let out: {
        redis: { ip: string; networkName: string; appUser: wire.Auth };
        tunnel: { keyBase64: string; listenAddress: string; listenPort: number; serverName: string; clientName: string };
    };
    const keysSeen: string[] = [];
    const handBuilt: string[] = [];

    const up = async () => {
        out = plainOutputs((await stack!.up()).outputs) as typeof out;
        keysSeen.push(out.tunnel.keyBase64);
    };
    const through = (port: number, f: (c: Awaited<ReturnType<typeof wire.connect>>) => Promise<unknown>) =>
        wire.withClient({ host: "127.0.0.1", port }, { auth: out.redis.appUser, connectTimeoutMs: 2000, commandTimeoutMs: 3000 }, f);
    const waitForTunnel = (port: number) =>
        wire.waitUntil(
            `the tunnel on 127.0.0.1:${port} to carry PING`,
            async () => (await through(port, c => c.ping())) === "PONG",
            30_000,
            200,
        );
    /**
     * Hand-built control: a spiped client end like the component's (same command line from the same plan), on the
     * tunnel's network, published on its own loopback port, with the key given here instead of the component's.
     */
    const clientWithKey = async (name: string, keyBase64: string): Promise<number> => {
        const port = await freePort();
        const shape = resolveTunnelArgs("itsp", { ...tunnelArgs, listenPort: port }).shape;
        handBuilt.push(
            scope.container(name, {
                network: TUNNEL_NET,
                command: clientCommand(shape, out.tunnel.serverName),
                files: { [KEY_FILE]: Buffer.from(keyBase64, "base64") },
                publish: [`127.0.0.1:${port}:${port}`],
            }),
        );
        return port;
    };
    /** A spiped end whose handshake fails closes the application's connection before Redis ever answers (AUTH). */
    const nothingThrough = (port: number) => new RegExp(`cannot reach Redis at 127\\.0\\.0\\.1:${port}: Connection is closed`);

    beforeAll(async () => {
        // The tunnel runs a tag of its own, so the rebuild test can move it to a new build without touching the chain.
        docker("tag", DEFAULT_IMAGE, TUNNEL_IMAGE);
        const listenPort = await freePort();
        stack = await testStack(scope, "itsp", async () => {
            const redis = new ReplicationChain("itsp-redis", { hops: ["plain"], subnet: REDIS_SUBNET });
            const head = redis.nodes[0];
            tunnelArgs = {
                networkName: redis.networkName,
                targetHost: head.name,
                targetPort: head.plainPort,
                subnet: TUNNEL_SUBNET,
                listenPort,
                maxConnections: 10,
                keyRotation: rotation,
                image: TUNNEL_IMAGE,
            };
            const tunnel = new SpipedTunnel("itsp", tunnelArgs);
            return {
                redis: { ip: head.ip, networkName: redis.networkName, appUser: redis.appUser },
                tunnel: {
                    keyBase64: tunnel.keyBase64,
                    listenAddress: tunnel.listenAddress,
                    listenPort: tunnel.listenPort,
                    serverName: tunnel.serverName,
                    clientName: tunnel.clientName,
                },
            };
        });
        await up();
    });
    // Hand-built containers sit on the component's network: tearDown removes them first.
    afterAll(async () => {
        await tearDown(scope, stack, handBuilt);
        spawnSync("docker", ["rmi", "-f", TUNNEL_IMAGE]);
    });

    /** The component's key file in `container`: mode, size and content (base64). */
    const keyFile = (container: string) =>
        docker("exec", container, "sh", "-c", `stat -c '%a %s' ${KEY_FILE} && base64 -w0 ${KEY_FILE}`).split("\n");

    test("both ends hold the key only as a file of 64 random letters and digits, mode 0600, the key of the outputs; not in argv or env", () => {
        const key = Buffer.from(out.tunnel.keyBase64, "base64");
        expect(key.toString()).toMatch(new RegExp(`^[A-Za-z0-9]{${KEY_CHARS}}$`));
        for (const c of [out.tunnel.serverName, out.tunnel.clientName]) {
            expect([c, ...keyFile(c)]).toEqual([c, `600 ${KEY_CHARS}`, out.tunnel.keyBase64]);
            const args = docker("inspect", "-f", "{{json .Path}} {{json .Args}}", c);
            expect(args).toContain(KEY_FILE);
            for (const form of [key.toString("base64"), key.toString()]) expect(args).not.toContain(form);
            expect(docker("inspect", "-f", "{{json .Config.Env}}", c)).not.toMatch(/key/i);
        }
    });

    test("the client end is published on 127.0.0.1 only; the server end publishes nothing", () => {
        const bindings = (c: string) => JSON.parse(docker("inspect", "-f", "{{json .HostConfig.PortBindings}}", c)) ?? {};
        expect(out.tunnel.listenAddress).toBe("127.0.0.1");
        expect(bindings(out.tunnel.clientName)).toEqual({
            [`${out.tunnel.listenPort}/tcp`]: [{ HostIp: "127.0.0.1", HostPort: String(out.tunnel.listenPort) }],
        });
        expect(bindings(out.tunnel.serverName)).toEqual({});
        // Both ends locked down like every container of the project (components/redis/node.ts lockedDown): spiped
        // (PID 1) runs as nobody with no capability, on a read-only root filesystem, its key on a read-only volume.
        for (const c of [out.tunnel.clientName, out.tunnel.serverName]) {
            const hc = JSON.parse(docker("inspect", "-f", "{{json .HostConfig}}", c));
            expect([c, hc.CapDrop, hc.CapAdd, hc.ReadonlyRootfs, hc.SecurityOpt, hc.LogConfig.Config]).toEqual([
                c,
                ["ALL"],
                null,
                true,
                ["no-new-privileges:true"],
                { "max-size": "10m", "max-file": "3" },
            ]);
            expect(docker("exec", c, "sh", "-c", "echo $(cat /proc/1/comm) $(grep -E '^(Uid|CapPrm|CapEff)' /proc/1/status)")).toBe(
                "spiped Uid: 65534 65534 65534 65534 CapPrm: 0000000000000000 CapEff: 0000000000000000",
            );
            for (const path of ["/etc/x", `${KEY_DIR}/x`]) {
                expect(docker("exec", "-u", "root", c, "sh", "-c", `touch ${path} 2>&1; echo $?`)).toBe(
                    `touch: cannot touch '${path}': Read-only file system\n1`,
                );
            }
        }
    });

    test("PING, SET and GET go through the tunnel's loopback listener", async () => {
        await waitForTunnel(out.tunnel.listenPort);
        await through(out.tunnel.listenPort, async c => {
            expect(await c.set("through", "spiped")).toBe("OK");
            expect(await c.get("through")).toBe("spiped");
        });
    });

    test("a client end with another key gets nothing through (a client with the outputs' key does: the control)", async () => {
        const right = await clientWithKey("itsp-rightkey", out.tunnel.keyBase64);
        const wrong = await clientWithKey("itsp-wrongkey", crypto.randomBytes(KEY_BYTES).toString("base64"));
        await waitForTunnel(right);
        await expect(through(wrong, c => c.ping())).rejects.toThrow(nothingThrough(wrong));
    });

    test("only the server end joins Redis's network: Redis answers from there, and is unreachable from the client end", () => {
        const networks = (c: string) => Object.keys(JSON.parse(docker("inspect", "-f", "{{json .NetworkSettings.Networks}}", c))).sort();
        expect(networks(out.tunnel.serverName)).toEqual([out.redis.networkName, TUNNEL_NET].sort());
        expect(networks(out.tunnel.clientName)).toEqual([TUNNEL_NET]);
        const probe = (c: string) =>
            spawnSync("docker", ["exec", c, "timeout", "3", "redis-cli", "-h", out.redis.ip, "ping"], { encoding: "utf8" });
        const fromServer = probe(out.tunnel.serverName);
        expect(fromServer.stdout).toContain("NOAUTH"); // the control: the same probe works where there is a route
        const fromClient = probe(out.tunnel.clientName);
        // Docker's network isolation drops the packets: redis-cli waits until `timeout` kills it (exit 124, nothing
        // printed). An exec that could not run at all would exit 125-127 with a message.
        expect([fromClient.status, fromClient.stdout + fromClient.stderr]).toEqual([124, ""]);
    });

    test("keyRotation: a new key in both ends after `pulumi up`; the old key gets nothing through, the new one does", async () => {
        const old = out.tunnel.keyBase64;
        rotation = "rotated-1";
        await up();
        expect(out.tunnel.keyBase64).not.toBe(old);
        for (const c of [out.tunnel.serverName, out.tunnel.clientName])
            expect([c, ...keyFile(c)]).toEqual([c, `600 ${KEY_CHARS}`, out.tunnel.keyBase64]);
        // The component's tunnel carries traffic with the new key; the data behind it is the same Redis.
        await waitForTunnel(out.tunnel.listenPort);
        expect(await through(out.tunnel.listenPort, c => c.get("through"))).toBe("spiped");
        // Two hand-built clients started now, alike but for the key (both resolve the new server end).
        const withNew = await clientWithKey("itsp-newkey", out.tunnel.keyBase64);
        const withOld = await clientWithKey("itsp-oldkey", old);
        await waitForTunnel(withNew);
        await expect(through(withOld, c => c.ping())).rejects.toThrow(nothingThrough(withOld));
    });

    test("a new build under the same tag (image.sh --refresh): a refreshing preview shows both ends replaced, up moves them onto it", async () => {
        const before = docker("inspect", "-f", "{{.Image}}", out.tunnel.serverName);
        expect(before).toBe(docker("image", "inspect", "-f", "{{.Id}}", TUNNEL_IMAGE));
        // A new build of the tag: the same content plus a label, as a rebuild with updated packages would be.
        const base = docker("create", TUNNEL_IMAGE);
        docker("commit", "--change", "LABEL rebuilt=yes", base, TUNNEL_IMAGE);
        docker("rm", base);
        const rebuilt = docker("image", "inspect", "-f", "{{.Id}}", TUNNEL_IMAGE);
        expect(rebuilt).not.toBe(before);
        const preview = await stack!.preview({ refresh: true });
        expect(preview.changeSummary.replace).toBe(4); // both ends and their key writers
        await stack!.up({ refresh: true });
        for (const c of [out.tunnel.serverName, out.tunnel.clientName])
            expect([c, docker("inspect", "-f", "{{.Image}}", c)]).toEqual([c, rebuilt]);
        await waitForTunnel(out.tunnel.listenPort);
        expect(await through(out.tunnel.listenPort, c => c.get("through"))).toBe("spiped");
        // And nothing more to do.
        expect((await stack!.preview({ refresh: true })).changeSummary).toEqual({ same: expect.any(Number) });
    });

    test("no container logged a key or the password", async () => {
        const logs = scope.logs();
        expect(docker("logs", "itsp-redis-a")).toMatch(/Ready to accept connections/); // the logs were read
        const secrets = await stateSecrets(stack!);
        expect(Object.keys(secrets)).toEqual(expect.arrayContaining(["itsp-key.result", "itsp-redis-users-app.result"]));
        const old = Object.fromEntries(
            keysSeen.flatMap((k, i) => [
                [`key${i}`, k],
                [`key${i}.text`, Buffer.from(k, "base64").toString()],
            ]),
        );
        expectNoSecrets(logs, { ...secrets, ...old });
    });
});
