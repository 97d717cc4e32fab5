// spiped on real containers: the client end (loopback-published) encrypts to the server end, which forwards
// to redis-server. The same key on both ends carries traffic; a client with another key gets nothing through.
import * as crypto from "crypto";
import { clientCommand, KEY_BYTES, serverCommand, TunnelShape } from "../../components/spiped/plan";
import { APP_USER_RULES, renderAclFile, renderRedisConf } from "../../components/redis/conf";
import * as wire from "../../components/redis/wire";
import { spawnSync } from "child_process";
import { docker, expectNoSecrets, freePort, nodeFiles, password, redisCommand, Scope } from "./harness";

jest.setTimeout(120_000);

describe("SpipedTunnel on real spiped containers", () => {
    const scope = new Scope();
    const app = { username: "app", password: password() };
    const key = crypto.randomBytes(KEY_BYTES);
    const REDIS_IP = "172.25.11.10";
    let shape: TunnelShape;
    let wrongPort: number;

    beforeAll(async () => {
        // As the components build it: Redis on an internal network that only the server end joins.
        const redisNet = scope.network("itspiped-redis-net", "172.25.11.0/24", { internal: true });
        const net = scope.network("itspiped-net", "172.25.14.0/24");
        const acl = renderAclFile([{ name: "app", password: app.password, rules: APP_USER_RULES }]);
        scope.container("itspiped-redis", { network: redisNet, ip: REDIS_IP, command: redisCommand, files: nodeFiles(renderRedisConf({ port: 6379 }), acl) });
        shape = {
            name: "itspiped", targetHost: "itspiped-redis", targetPort: 6379, serverPort: 8379,
            listenAddress: "127.0.0.1", listenPort: await freePort(), allowNonLoopbackListener: false,
            maxConnections: 10, keepalive: true, connectTimeoutSeconds: 5, keyBytes: KEY_BYTES,
        };
        const keyFile = (k: Buffer) => ({ "/etc/spiped/key": k });
        scope.container("itspiped-server", { network: net, alsoOn: [redisNet], command: serverCommand(shape), files: keyFile(key) });
        scope.container("itspiped-client", {
            network: net, command: clientCommand(shape, "itspiped-server"), files: keyFile(key),
            publish: [`${shape.listenAddress}:${shape.listenPort}:${shape.listenPort}`],
        });
        wrongPort = await freePort();
        scope.container("itspiped-wrongkey", {
            network: net, command: clientCommand({ ...shape, listenPort: wrongPort }, "itspiped-server"),
            files: keyFile(crypto.randomBytes(KEY_BYTES)), publish: [`127.0.0.1:${wrongPort}:${wrongPort}`],
        });
    });
    afterAll(() => scope.cleanup());

    test("the key is a file, not on the command line", () => {
        const args = docker("inspect", "-f", "{{json .Args}}", "itspiped-server");
        expect(args).toContain("/etc/spiped/key");
        expect(args).not.toContain(key.toString("base64"));
        expect(docker("inspect", "-f", "{{json .Config.Env}}", "itspiped-server")).not.toMatch(/key/i);
    });

    test("the client listener is published on loopback only", () => {
        const ports = JSON.parse(docker("inspect", "-f", "{{json .HostConfig.PortBindings}}", "itspiped-client"));
        expect(ports[`${shape.listenPort}/tcp`]).toEqual([{ HostIp: "127.0.0.1", HostPort: String(shape.listenPort) }]);
    });

    test("PING, SET and GET go through the tunnel", async () => {
        await wire.waitUntil("the tunnel to carry PING", async () =>
            wire.withClient({ host: "127.0.0.1", port: shape.listenPort }, { auth: app, connectTimeoutMs: 1000 }, async c => (await c.ping()) === "PONG"), 30_000, 200);
        await wire.withClient({ host: "127.0.0.1", port: shape.listenPort }, { auth: app }, async c => {
            expect(await c.set("through", "spiped")).toBe("OK");
            expect(await c.get("through")).toBe("spiped");
        });
    });

    test("a client with a wrong key gets nothing through", async () => {
        const attempt = wire.withClient({ host: "127.0.0.1", port: wrongPort }, { auth: app, connectTimeoutMs: 2000 }, c => c.ping());
        await expect(attempt).rejects.toThrow();
    });

    test("Redis is reachable from the server end only, not from the tunnel's network", () => {
        const probe = (container: string) => spawnSync("docker", ["exec", container, "timeout", "3", "redis-cli", "-h", REDIS_IP, "ping"], { encoding: "utf8" });
        expect(probe("itspiped-server").stdout).toContain("NOAUTH");
        const fromClient = probe("itspiped-client");
        expect(fromClient.stdout + fromClient.stderr).not.toContain("NOAUTH");
        expect(fromClient.status).not.toBe(0);
    });

    test("no container logged the key or the password", () => {
        expectNoSecrets(scope.logs(), { key: key.toString("base64"), keyHex: key.toString("hex"), password: app.password });
    });
});
