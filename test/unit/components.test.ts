// Resource graphs under pulumi mocks: which children each component creates, with which inputs, and which
// outputs are secret. Mocks are set before the components are loaded; every newResource call is recorded.
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";
import type * as Components from "../../components";

interface Call {
    type: string;
    name: string;
    inputs: any;
    provider?: string;
}
const calls: Call[] = [];
const fake = (kind: string, name: string) => `-----BEGIN ${kind}-----\n${name}\n-----END ${kind}-----\n`;
const password = (name: string) => crypto.createHash("sha256").update(name).digest("hex").slice(0, 32);

/** What the real providers would add to a resource's inputs (only the outputs the components read). */
function outputsOf(type: string, name: string, inputs: any): Record<string, unknown> {
    switch (type) {
        case "tls:index/privateKey:PrivateKey":
            return { privateKeyPem: fake("PRIVATE KEY", name) };
        case "tls:index/selfSignedCert:SelfSignedCert":
        case "tls:index/locallySignedCert:LocallySignedCert":
            return { certPem: fake("CERTIFICATE", name) };
        case "tls:index/certRequest:CertRequest":
            return { certRequestPem: fake("CERTIFICATE REQUEST", name) };
        case "random:index/randomPassword:RandomPassword":
            return { result: password(name) };
        case "docker:index/remoteImage:RemoteImage":
            return { imageId: `sha256:${password(inputs.name)}` };
        case "pulumi-nodejs:dynamic/redis:ClusterBootstrap":
            return { nodeIds: Object.fromEntries(inputs.nodes.map((n: { name: string }) => [n.name, password(`id-${n.name}`)])) };
        case "pulumi-nodejs:dynamic/redis:PasswordRotation":
            return {
                live: Object.fromEntries(Object.entries(inputs.wanted as Record<string, string>).map(([u, h]) => [u, [h]])),
                rotatedAt: {},
            };
        // CaTrust and TlsReload resolve nothing but their own state: the bundle is the CA, the nodes serve what they get.
        case "pulumi-nodejs:dynamic/redis:CaTrust":
            return { bundle: inputs.caPem };
        case "pulumi-nodejs:dynamic/redis:TlsReload":
            return { served: {} };
        default:
            return {};
    }
}

// Whether an engine answers is IO (engines.test.ts asks real local sockets); here every engine answers and is noted.
const mockAskedEngines: string[] = [];
jest.mock("../../components/cluster/engines", () => ({
    ...jest.requireActual("../../components/cluster/engines"),
    checkEngine: (_field: string, _name: string, dockerHost: string) => {
        mockAskedEngines.push(dockerHost);
        return Promise.resolve();
    },
}));

const CONTAINER = "docker:index/container:Container";

void pulumi.runtime.setMocks(
    {
        newResource: args => {
            calls.push({ type: args.type, name: args.name, inputs: args.inputs, provider: args.provider });
            return {
                id: `${args.name}-id`,
                state: { ...args.inputs, name: args.inputs.name ?? args.name, ...outputsOf(args.type, args.name, args.inputs) },
            };
        },
        call: args => args.inputs,
    },
    "redis-secure-topologies",
    "unit",
    false,
);

// Loaded only now, after the mocks are in place.
/* eslint-disable @typescript-eslint/no-require-imports */
const components: typeof Components = require("../../components");
const { writerScript }: typeof import("../../components/redis/node") = require("../../components/redis/node");
/* eslint-enable @typescript-eslint/no-require-imports */

const promiseOf = <T>(o: pulumi.Output<T>) => new Promise<T>(r => o.apply(r));

/** Waits until no resource has been registered for a while (registration is asynchronous). */
async function settle(quietMs = 200, maxMs = 20_000): Promise<void> {
    const start = Date.now();
    let seen = -1;
    while (seen !== calls.length && Date.now() - start < maxMs) {
        seen = calls.length;
        await new Promise(r => setTimeout(r, quietMs));
    }
}

const SECRET = { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig };
const isSecretValue = (v: any) => !!v && typeof v === "object" && v[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
/** The plain value of mock inputs, with secret envelopes removed. */
function reveal(v: any): any {
    if (isSecretValue(v)) return reveal(v.value);
    if (Array.isArray(v)) return v.map(reveal);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)]));
    return v;
}

/** The service containers (Redis, spiped) of a type and prefix; their file writers (`<name>-files`) are writerOf's. */
const ofType = (type: string, prefix: string) =>
    calls.filter(c => c.type === type && c.name.startsWith(prefix) && !(type === CONTAINER && c.name.endsWith("-files")));
const one = (type: string, name: string) => {
    const found = calls.filter(c => c.type === type && c.name === name);
    expect(found).toHaveLength(1);
    return found[0];
};
/** The versioned TLS directory a node's writer fills (tlsVersionDir). */
const tlsDirOf = (ca: string, cert: string) =>
    `/etc/redis-secure/tls/${crypto.createHash("sha256").update(ca).update("\0").update(cert).digest("hex").slice(0, 16)}`;
interface Upload {
    file: string;
    content?: string;
    contentBase64?: string;
    permissions: string;
}
/** The writer container that delivers a service container's files (filesVolume), and what it uploads. */
const writerOf = (c: Call) => one(CONTAINER, `${c.name}-files`);
const uploadsOf = (c: Call): Upload[] => reveal(writerOf(c).inputs.uploads);
const upload = (c: Call, file: string) => {
    const u = uploadsOf(c).find(x => x.file === file);
    if (!u) throw new Error(`${c.name} has no upload ${file}`);
    return u;
};

describe("RedisCluster", () => {
    let cluster: Components.RedisCluster;
    beforeAll(async () => {
        cluster = new components.RedisCluster("rc", { antiAffinity: "soft" });
        await promiseOf(cluster.nodeIds);
        await settle();
    }, 60_000);

    test("6 containers, one network on 172.30.0.0/24, one bootstrap with the 6 planned nodes", () => {
        const containers = ofType(CONTAINER, "rc-");
        expect(containers.map(c => c.name).sort()).toEqual(["rc-m0", "rc-m0-r0", "rc-m1", "rc-m1-r0", "rc-m2", "rc-m2-r0"]);
        expect(ofType("docker:index/network:Network", "rc-")).toHaveLength(1);
        expect(one("docker:index/network:Network", "rc-net-local").inputs.ipamConfigs).toEqual([{ subnet: "172.30.0.0/24" }]);
        // Per node: its data, and its files (written by its writer container, read-only in the node).
        expect(
            ofType("docker:index/volume:Volume", "rc-")
                .map(v => v.name)
                .sort(),
        ).toEqual(containers.flatMap(c => [`${c.name}-data`, `${c.name}-files`]).sort());
        const bootstrap = ofType("pulumi-nodejs:dynamic/redis:ClusterBootstrap", "rc-");
        expect(bootstrap).toHaveLength(1);
        expect(bootstrap[0].inputs.nodes).toHaveLength(6);
        expect(bootstrap[0].inputs.nodes[0]).toEqual({
            name: "rc-m0",
            ip: "172.30.0.10",
            port: 6379,
            busPort: 16379,
            role: "master",
            slots: [0, 5460],
        });
        expect(bootstrap[0].inputs.nodes[3]).toEqual({
            name: "rc-m0-r0",
            ip: "172.30.0.11",
            port: 6379,
            busPort: 16379,
            role: "replica",
            masterName: "rc-m0",
        });
    });

    test("containers run the image by its ID on their engine (so a rebuilt tag replaces them), never removing it", () => {
        expect(ofType("docker:index/remoteImage:RemoteImage", "rc-").map(i => [i.name, i.inputs])).toEqual([
            ["rc-local-image", { name: components.DEFAULT_IMAGE, keepLocally: true }],
        ]);
        for (const c of ofType(CONTAINER, "rc-")) expect(c.inputs.image).toBe(`sha256:${password(components.DEFAULT_IMAGE)}`);
    });

    test("one host: the node network is internal (no route out)", () => {
        expect(one("docker:index/network:Network", "rc-net-local").inputs.internal).toBe(true);
    });

    test("every container: files from its writer only, no env, no published ports, the same command, its static IP", () => {
        for (const c of ofType(CONTAINER, "rc-")) {
            const node = cluster.nodes.find(n => n.name === c.name)!;
            expect(c.inputs.command).toEqual(["sh", "/etc/redis-secure/start.sh"]);
            expect(c.inputs.env).toBeUndefined();
            expect(c.inputs.ports).toBeUndefined();
            expect(c.inputs.networksAdvanced).toEqual([{ name: "rc-net-local", ipv4Address: node.ip, aliases: [c.name] }]);
            expect(c.inputs.volumes).toEqual([
                { volumeName: `${c.name}-files`, containerPath: "/etc/redis-secure", readOnly: true },
                { volumeName: `${c.name}-data`, containerPath: "/data" },
            ]);
            expect(c.inputs.uploads).toBeUndefined();
            const dir = tlsDirOf(fake("CERTIFICATE", "rc-ca-cert"), fake("CERTIFICATE", `${c.name}-tls-cert`));
            expect(uploadsOf(c).map(u => [u.file, u.permissions])).toEqual([
                ["/etc/redis-secure/redis.conf", "0600"],
                ["/etc/redis-secure/start.sh", "0755"],
                ["/etc/redis-secure/tls/ca.crt", "0644"],
                ["/etc/redis-secure/tls/node.crt", "0644"],
                ["/etc/redis-secure/tls/node.key", "0600"],
                [`${dir}/ca.crt`, "0644"],
                [`${dir}/node.crt`, "0644"],
                [`${dir}/node.key`, "0600"],
                // Hot files: a password rotation rewrites them without replacing the container.
                ["/etc/redis-secure/users.acl", "0600"],
                ["/etc/redis-secure/masterauth.conf", "0600"],
            ]);
            expect(upload(c, `${dir}/node.key`).content).toBe(fake("PRIVATE KEY", `${c.name}-tls-key`));
            // Each node gets its own key and certificate, and the CA's certificate.
            expect(upload(c, "/etc/redis-secure/tls/node.key").content).toBe(fake("PRIVATE KEY", `${c.name}-tls-key`));
            expect(upload(c, "/etc/redis-secure/tls/node.crt").content).toBe(fake("CERTIFICATE", `${c.name}-tls-cert`));
            expect(upload(c, "/etc/redis-secure/tls/ca.crt").content).toBe(fake("CERTIFICATE", "rc-ca-cert"));
        }
    });

    test("every node container runs as redis with no capability on a read-only root, gains no privilege, rotates its log; no maxmemory, no memory limit", () => {
        for (const c of ofType(CONTAINER, "rc-")) {
            expect([
                c.inputs.user,
                c.inputs.capabilities,
                c.inputs.readOnly,
                c.inputs.tmpfs,
                c.inputs.securityOpts,
                c.inputs.logDriver,
                c.inputs.logOpts,
                c.inputs.memory,
            ]).toEqual([
                "redis",
                { drops: ["ALL"] },
                true,
                { "/tmp": "rw,noexec,nosuid,size=16m" },
                ["no-new-privileges:true"],
                "json-file",
                { "max-size": "10m", "max-file": "3" },
                undefined,
            ]);
        }
    });

    test("each node's writer: its files to the volume as redis's, then exits; no network, no restart, only the capabilities to write them", () => {
        for (const c of ofType(CONTAINER, "rc-")) {
            const w = writerOf(c).inputs;
            expect([w.command, w.volumes, w.networkMode, w.attach, w.mustRun, w.restart, w.capabilities]).toEqual([
                ["sh", "-ec", writerScript("/etc/redis-secure", "redis:redis", { path: "/data" })],
                [
                    { volumeName: `${c.name}-files`, containerPath: "/target" },
                    { volumeName: `${c.name}-data`, containerPath: "/data" },
                ],
                "none",
                true,
                false,
                "no",
                { drops: ["ALL"], adds: ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER"] },
            ]);
        }
    });

    test("uploads carrying secrets arrive as secrets", () => {
        for (const c of ofType(CONTAINER, "rc-")) expect(isSecretValue(writerOf(c).inputs.uploads)).toBe(true);
    });

    test("durability by default: AOF fsynced every second, and a crashed master waits 2 x node timeout + 2 s before it restarts", () => {
        for (const c of ofType(CONTAINER, "rc-")) {
            expect(upload(c, "/etc/redis-secure/redis.conf").content!.split("\n")).toEqual(
                expect.arrayContaining(["appendonly yes", "appendfsync everysec"]),
            );
            expect(upload(c, "/etc/redis-secure/start.sh").content).toContain("waiting 12000 ms so the cluster fails over to its replica");
        }
    });

    test("appendfsync always and a node timeout of 3 s reach every node", async () => {
        new components.RedisCluster("dur", { appendfsync: "always", nodeTimeoutMs: 3000, subnet: "172.28.0.0/24", antiAffinity: "soft" });
        await settle();
        for (const c of ofType(CONTAINER, "dur-")) {
            expect(upload(c, "/etc/redis-secure/redis.conf").content).toContain("appendonly yes\nappendfsync always\n");
            expect(upload(c, "/etc/redis-secure/start.sh").content).toContain("sleep 8.000");
        }
    }, 60_000);

    test("appendonly false: no AOF, the crash wait stays", async () => {
        new components.RedisCluster("noaof", { appendonly: false, subnet: "172.27.0.0/24", antiAffinity: "soft" });
        await settle();
        for (const c of ofType(CONTAINER, "noaof-")) {
            expect(upload(c, "/etc/redis-secure/redis.conf").content).not.toContain("appendonly");
            expect(upload(c, "/etc/redis-secure/start.sh").content).toContain("sleep 12.000");
        }
    }, 60_000);

    test("redis.conf: TLS-only cluster node announcing its own address; the replication password in the file it includes", () => {
        const node = one(CONTAINER, "rc-m1-r0");
        const conf = upload(node, "/etc/redis-secure/redis.conf").content!.split("\n");
        expect(conf).toEqual(
            expect.arrayContaining([
                "port 0",
                "tls-port 6379",
                "tls-cluster yes",
                "tls-replication yes",
                "tls-auth-clients no",
                "cluster-announce-ip 172.30.0.17",
                "cluster-announce-tls-port 6379",
                "cluster-announce-bus-port 16379",
                "masteruser replication",
                "include /etc/redis-secure/masterauth.conf",
            ]),
        );
        expect(conf.join("\n")).not.toContain(password("rc-users-replication"));
        expect(upload(node, "/etc/redis-secure/masterauth.conf").content).toBe(`masterauth ${password("rc-users-replication")}\n`);
    });

    test("a label shows redis.conf to `preview --diff` in plain text, the password left out", () => {
        for (const c of ofType(CONTAINER, "rc-")) {
            expect(isSecretValue(c.inputs.labels)).toBe(false);
            const conf = upload(c, "/etc/redis-secure/redis.conf").content!;
            // After it the ACL rules, which only a restart applies (a rotation changes passwords live); beside it, a
            // digest of the files the writer delivered but the hot ones, so new files replace the container.
            expect(c.inputs.labels).toEqual([
                {
                    label: "redis-secure-topologies.redis-conf",
                    value:
                        conf +
                        [
                            "user admin on (passwords) ~* &* +@all",
                            "user replication on (passwords) +psync +replconf +ping",
                            "user app on (passwords) ~* resetchannels +@all -@dangerous -@admin",
                            "user metrics on (passwords) resetkeys resetchannels -@all +info +cluster|info +slowlog|get +slowlog|len +latency|latest +client|setname",
                        ].join("\n") +
                        "\n",
                },
                { label: "redis-secure-topologies.files", value: expect.stringMatching(/^[0-9a-f]{64}$/) },
            ]);
            expect(c.inputs.labels[0].value).not.toContain(password("rc-users-replication"));
        }
    });

    test("TLS files are hot: the files label is a digest of the other files only, so a new certificate keeps the container", () => {
        for (const c of ofType(CONTAINER, "rc-")) {
            // (users.acl and masterauth.conf are hot too: a password rotation changes them live.)
            const hot = ["/etc/redis-secure/users.acl", "/etc/redis-secure/masterauth.conf"];
            const cold = uploadsOf(c).filter(u => !u.file.startsWith("/etc/redis-secure/tls/") && !hot.includes(u.file));
            expect(cold.map(u => u.file)).toEqual(["/etc/redis-secure/redis.conf", "/etc/redis-secure/start.sh"]);
            // In the order redisNode writes each upload's fields (the mock hands them back sorted).
            const asWritten = cold.map(u => ({ file: u.file, content: u.content, permissions: u.permissions }));
            expect(c.inputs.labels[1].value).toBe(crypto.createHash("sha256").update(JSON.stringify(asWritten)).digest("hex"));
        }
    });

    test("one TlsReload loads them into every node (its versioned directory, its certificate), trusting the CA bundle", () => {
        const r = one("pulumi-nodejs:dynamic/redis:TlsReload", "rc-tls-reload").inputs;
        expect(r.topology).toBe("rc");
        expect(r.nodes.map((n: any) => [n.name, n.host, n.port, n.replica, n.cluster])).toEqual(
            cluster.nodes.map(n => [n.name, n.ip, 6379, n.role === "replica", true]),
        );
        for (const n of r.nodes) {
            expect(n.certPem).toBe(fake("CERTIFICATE", `${n.name}-tls-cert`));
            expect(n.dir).toBe(tlsDirOf(fake("CERTIFICATE", "rc-ca-cert"), n.certPem));
        }
        expect(r.caPem).toBe(fake("CERTIFICATE", "rc-ca-cert"));
        expect(r.auth).toEqual({ ...SECRET, value: { username: "admin", password: password("rc-users-admin") } });
        expect(r.client).toBeUndefined();
        // The bundle comes from the CA's trust (the previous CA beside it during a rotation), and it is what clients get.
        expect(one("pulumi-nodejs:dynamic/redis:CaTrust", "rc-ca-trust").inputs).toMatchObject({
            caPem: fake("CERTIFICATE", "rc-ca-cert"),
            graceHours: 0,
        });
    });

    test("ca.generation names a new CA (so raising it makes one), with its own common name", async () => {
        await promiseOf(
            new components.RedisCluster("gen", { ca: { generation: 2, graceHours: 5 }, subnet: "172.29.3.0/24", antiAffinity: "soft" })
                .nodeIds,
        );
        await settle();
        expect(
            calls
                .filter(c => c.type === "tls:index/selfSignedCert:SelfSignedCert" && c.name.startsWith("gen-"))
                .map(c => [c.name, c.inputs.subject.commonName]),
        ).toEqual([["gen-ca-g2-cert", "gen-ca-g2"]]);
        expect(one("pulumi-nodejs:dynamic/redis:CaTrust", "gen-ca-trust").inputs).toMatchObject({
            caPem: fake("CERTIFICATE", "gen-ca-g2-cert"),
            graceHours: 5,
        });
        expect(one("tls:index/locallySignedCert:LocallySignedCert", "gen-m0-tls-cert").inputs.caCertPem).toBe(
            fake("CERTIFICATE", "gen-ca-g2-cert"),
        );
    }, 60_000);

    test("users.acl holds the hashes of the four generated passwords (the rotation's live ones); no password on a command line", () => {
        const c = one(CONTAINER, "rc-m0");
        const hash = (user: string) =>
            crypto
                .createHash("sha256")
                .update(password(`rc-users-${user}`))
                .digest("hex");
        expect(upload(c, "/etc/redis-secure/users.acl").content).toBe(
            [
                "user default off",
                `user admin on #${hash("admin")} ~* &* +@all`,
                `user replication on #${hash("replication")} +psync +replconf +ping`,
                `user app on #${hash("app")} ~* resetchannels +@all -@dangerous -@admin`,
                `user metrics on #${hash("metrics")} resetkeys resetchannels -@all +info +cluster|info +slowlog|get +slowlog|len +latency|latest +client|setname`,
                "",
            ].join("\n"),
        );
        const passwords = ofType("random:index/randomPassword:RandomPassword", "rc-users-");
        expect(passwords.map(p => [p.name, p.inputs.length, p.inputs.special])).toEqual([
            ["rc-users-admin", 32, false],
            ["rc-users-replication", 32, false],
            ["rc-users-app", 32, false],
            ["rc-users-metrics", 32, false],
        ]);
        for (const p of passwords) expect(JSON.stringify(c.inputs.command)).not.toContain(password(p.name));
    });

    test("the bootstrap authenticates as admin over TLS with the CA only: no client certificate exists without mutual TLS", () => {
        const b = one("pulumi-nodejs:dynamic/redis:ClusterBootstrap", "rc-bootstrap");
        expect(b.inputs.auth).toEqual({ ...SECRET, value: { username: "admin", password: password("rc-users-admin") } });
        expect(isSecretValue(b.inputs.tls)).toBe(true);
        expect(reveal(b.inputs.tls)).toEqual({ ca: fake("CERTIFICATE", "rc-ca-cert") });
        // The cluster bus takes any certificate of the cluster's CA: none is issued for applications.
        expect(calls.filter(c => c.name.startsWith("rc-client"))).toEqual([]);
        expect([cluster.clientCertPem, cluster.clientKeyPem]).toEqual([undefined, undefined]);
        const csr = one("tls:index/certRequest:CertRequest", "rc-m0-tls-csr").inputs;
        expect([csr.dnsNames, csr.ipAddresses]).toEqual([["rc-m0"], ["172.30.0.10"]]);
    });

    test("nodeIds come from the bootstrap", async () => {
        const ids = await promiseOf(cluster.nodeIds);
        expect(Object.keys(ids).sort()).toEqual(cluster.nodes.map(n => n.name).sort());
        expect(ids["rc-m0"]).toBe(password("id-rc-m0"));
    });

    test("mutualTls turns on tls-auth-clients", async () => {
        await promiseOf(new components.RedisCluster("mtls", { mutualTls: true, subnet: "172.29.0.0/24", antiAffinity: "soft" }).nodeIds);
        await settle();
        const conf = upload(one(CONTAINER, "mtls-m0"), "/etc/redis-secure/redis.conf").content!;
        expect(conf).toContain("tls-auth-clients yes\n");
        // With mutual TLS the bootstrap and the applications get a client certificate.
        expect(reveal(one("pulumi-nodejs:dynamic/redis:ClusterBootstrap", "mtls-bootstrap").inputs.tls)).toEqual({
            ca: fake("CERTIFICATE", "mtls-ca-cert"),
            cert: fake("CERTIFICATE", "mtls-client-cert"),
            key: fake("PRIVATE KEY", "mtls-client-key"),
        });
        expect(conf).toContain("cluster-announce-ip 172.29.0.10\n");
    }, 60_000);

    test("metrics: one exporter beside the nodes, published on 127.0.0.1 only, its password and client key as secret 0600 files", async () => {
        const mc = new components.RedisCluster("mx", { metrics: true, mutualTls: true, subnet: "172.29.1.0/24", antiAffinity: "soft" });
        await promiseOf(mc.nodeIds);
        await settle();
        const exporter = one(CONTAINER, "mx-metrics");
        expect(exporter.inputs.ports).toEqual([{ internal: 9121, external: 9121, ip: "127.0.0.1" }]);
        expect(exporter.inputs.networksAdvanced.map((n: { name: string }) => n.name)).toEqual(["mx-net-local", "mx-metrics-net"]);
        expect(one("docker:index/network:Network", "mx-metrics-net").inputs).toMatchObject({ ipamConfigs: [{ subnet: "172.31.4.0/24" }] });
        expect(one("docker:index/network:Network", "mx-metrics-net").inputs.internal).toBeUndefined();
        expect([exporter.inputs.user, exporter.inputs.readOnly, exporter.inputs.capabilities]).toEqual([
            "prometheus:prometheus",
            true,
            { drops: ["ALL"] },
        ]);
        expect(exporter.inputs.command).toContain("-redis.addr=rediss://172.29.1.10:6379");
        expect(exporter.inputs.command).toContain("-tls-client-cert-file=/etc/redis-exporter/client.crt");
        // The password file and the client key make the writer's uploads secret as a whole.
        expect(isSecretValue(writerOf(exporter).inputs.uploads)).toBe(true);
        expect(uploadsOf(exporter).map(u => [u.file, u.permissions])).toEqual([
            ["/etc/redis-exporter/passwords.json", "0600"],
            ["/etc/redis-exporter/ca.crt", "0644"],
            ["/etc/redis-exporter/client.crt", "0644"],
            ["/etc/redis-exporter/client.key", "0600"],
        ]);
        expect(JSON.parse(upload(exporter, "/etc/redis-exporter/passwords.json").content!)["rediss://172.29.1.16:6379"]).toBe(
            password("mx-users-metrics"),
        );
        expect(JSON.stringify(exporter.inputs.command)).not.toContain(password("mx-users-metrics"));
        expect(Object.keys(mc.metrics!.scrapeUrls)).toHaveLength(6);
        // Without metrics there is no exporter.
        expect(calls.filter(c => c.name === "rc-metrics")).toEqual([]);
    }, 60_000);

    test("3 hosts, each its own engine and subnet: a network per host, every node on its host's engine and network", async () => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- after the mocks, as the components above
        const docker: typeof import("@pulumi/docker") = require("@pulumi/docker");
        const hosts = [1, 2, 3].map(i => ({
            name: `h${i}`,
            subnet: `172.26.${i}.0/24`,
            provider: new docker.Provider(`engine-h${i}`, { host: `unix:///run/h${i}.sock` }),
        }));
        const mh = new components.RedisCluster("mh", { hosts });
        await promiseOf(mh.nodeIds);
        await settle();
        const providerOf = (host: string) => expect.stringContaining(`::engine-${host}::`);
        for (const h of hosts) {
            const net = one("docker:index/network:Network", `mh-net-${h.name}`);
            expect(net.inputs.ipamConfigs).toEqual([{ subnet: h.subnet }]);
            expect(net.inputs.internal).toBe(false); // nodes route between engines
            expect(net.provider).toEqual(providerOf(h.name));
        }
        expect(ofType(CONTAINER, "mh-")).toHaveLength(6);
        for (const n of mh.nodes) {
            const c = one(CONTAINER, n.name);
            expect(n.ip.startsWith(`172.26.${n.host.slice(1)}.`)).toBe(true);
            expect(c.inputs.networksAdvanced).toEqual([{ name: `mh-net-${n.host}`, ipv4Address: n.ip, aliases: [n.name] }]);
            expect(c.provider).toEqual(providerOf(n.host));
            expect(one("docker:index/volume:Volume", `${n.name}-data`).provider).toEqual(providerOf(n.host));
            expect(upload(c, "/etc/redis-secure/redis.conf").content).toContain(`cluster-announce-ip ${n.ip}\n`);
        }
        // A master never shares an engine with its replica.
        for (const r of mh.nodes.filter(n => n.role === "replica"))
            expect(r.host).not.toBe(mh.nodes.find(m => m.name === r.masterName)!.host);
    }, 60_000);

    test("hosts given by dockerHost: the component makes each engine's provider and places nodes with it", async () => {
        const hosts = [1, 2].map(i => ({ name: `e${i}`, subnet: `172.26.${i}.0/24`, dockerHost: `ssh://ops@redis-${i}` }));
        const dh = new components.RedisCluster("dh", { hosts, masters: 3, replicasPerMaster: 1 });
        await promiseOf(dh.nodeIds);
        await settle();
        for (const h of hosts) {
            expect(one("pulumi:providers:docker", `dh-engine-${h.name}`).inputs.host).toBe(h.dockerHost);
            expect(one("docker:index/network:Network", `dh-net-${h.name}`).provider).toEqual(
                expect.stringContaining(`::dh-engine-${h.name}::`),
            );
        }
        for (const n of dh.nodes) expect(one(CONTAINER, n.name).provider).toEqual(expect.stringContaining(`::dh-engine-${n.host}::`));
        // Each engine was asked before its provider got its address.
        expect(mockAskedEngines).toEqual(expect.arrayContaining(hosts.map(h => h.dockerHost)));
    }, 60_000);

    test.each<[string, Components.RedisClusterArgs, RegExp]>([
        ["bad1", { masters: 2 }, /masters must be an integer from 3/],
        ["bad2", { maxmemory: "lots", antiAffinity: "soft" }, /maxmemory must be a size like "256mb"/],
        ["bad3", { nodeTimeoutMs: 100, antiAffinity: "soft" }, /nodeTimeoutMs must be an integer from 500 to 120000/],
        [
            "bad5",
            {},
            /hosts must be at least 2 hosts, so no master shares a host with its replica \(antiAffinity "hard"; set antiAffinity: "soft" to allow one host\); got 1/,
        ],
        ["bad6", { antiAffinity: "maybe" as never }, /antiAffinity must be one of "hard", "soft"/],
        [
            "bad9",
            { appendfsync: "sometimes" as never, antiAffinity: "soft" },
            /^appendfsync must be one of "always", "everysec", "no"; got "sometimes"$/,
        ],
        ["bad10", { appendonly: "yes" as never, antiAffinity: "soft" }, /^appendonly must be true or false; got "yes"$/],
        [
            "bad4",
            {
                hosts: [
                    { name: "a", subnet: "172.26.0.0/16", dockerHost: "ssh://a" },
                    { name: "b", subnet: "172.26.2.0/24", dockerHost: "ssh://b" },
                ],
            },
            /hosts\[1\]\.subnet must be a subnet that does not overlap hosts\[0\]\.subnet/,
        ],
        ["bad7", { hosts: [{ name: "a" }, { name: "b", subnet: "172.26.2.0/24" }] }, /hosts\[1\] must be on a Docker engine of its own/],
        [
            "bad8",
            { hosts: [{ name: "a", dockerHost: "ftp://a" }, { name: "b" }] },
            /hosts\[0\]\.dockerHost must be a Docker engine address/,
        ],
    ])("%s: invalid input throws before any child resource exists", async (name, args, message) => {
        expect(() => new components.RedisCluster(name, args)).toThrow(message);
        await settle();
        const children = calls.filter(c => c.name.startsWith(name) && !c.type.startsWith("redis-secure-topologies:"));
        expect(children).toEqual([]);
    });
});

describe("ReplicationChain", () => {
    beforeAll(async () => {
        new components.ReplicationChain("ch");
        await settle();
    }, 60_000);

    test("the seed: 3 containers on 172.31.0.0/24; C is TLS only and replicates B over TLS", () => {
        expect(ofType(CONTAINER, "ch-").map(c => c.name)).toEqual(["ch-a", "ch-b", "ch-c"]);
        const net = one("docker:index/network:Network", "ch-net").inputs;
        expect([net.ipamConfigs, net.internal]).toEqual([[{ subnet: "172.31.0.0/24" }], true]);
        const conf = (name: string) => upload(one(CONTAINER, name), "/etc/redis-secure/redis.conf").content!.split("\n");
        expect(conf("ch-a")).toContain("port 6379");
        expect(conf("ch-a").join("\n")).not.toMatch(/tls-port|replicaof|masterauth/);
        expect(conf("ch-b")).toEqual(expect.arrayContaining(["port 6379", "tls-port 6380", "replicaof 172.31.0.10 6379"]));
        expect(conf("ch-b")).not.toContain("tls-replication yes");
        expect(conf("ch-c")).toEqual(
            expect.arrayContaining([
                "port 0",
                "tls-port 6380",
                "replicaof 172.31.0.11 6380",
                "tls-replication yes",
                "masteruser replication",
            ]),
        );
    });

    test("the head fsyncs every write (no failover: B and C resync from what it restarts with); replicas every second; no crash wait", () => {
        const conf = (name: string) => upload(one(CONTAINER, name), "/etc/redis-secure/redis.conf").content!.split("\n");
        expect(conf("ch-a")).toEqual(expect.arrayContaining(["appendonly yes", "appendfsync always"]));
        for (const r of ["ch-b", "ch-c"]) expect(conf(r)).toEqual(expect.arrayContaining(["appendonly yes", "appendfsync everysec"]));
        for (const c of ofType(CONTAINER, "ch-")) {
            expect(c.inputs.command).toEqual(["sh", "/etc/redis-secure/start.sh"]);
            expect(upload(c, "/etc/redis-secure/start.sh").content).not.toContain("sleep");
        }
    });

    test("appendfsync is validated", () => {
        expect(() => new components.ReplicationChain("badfsync", { appendfsync: "never" as never })).toThrow(
            /^appendfsync must be one of "always", "everysec", "no"; got "never"$/,
        );
    });

    test("node certificates: server and client auth, SANs for the name and the IP only (loopback when asked)", async () => {
        expect(one("tls:index/locallySignedCert:LocallySignedCert", "ch-c-tls-cert").inputs.allowedUses).toEqual(
            expect.arrayContaining(["server_auth", "client_auth"]),
        );
        const csr = one("tls:index/certRequest:CertRequest", "ch-c-tls-csr").inputs;
        expect([csr.dnsNames, csr.ipAddresses]).toEqual([["ch-c"], ["172.31.0.12"]]);
        new components.ReplicationChain("lo", { subnet: "172.29.9.0/24", loopbackSans: true });
        await settle();
        const lo = one("tls:index/certRequest:CertRequest", "lo-a-tls-csr").inputs;
        expect([lo.dnsNames, lo.ipAddresses]).toEqual([
            ["lo-a", "localhost"],
            ["172.29.9.10", "127.0.0.1"],
        ]);
    });

    test("an unknown transport throws before any child resource exists", async () => {
        expect(() => new components.ReplicationChain("badchain", { hops: ["plain", "ssl" as never] })).toThrow(
            /hops\[1\] must be one of "plain", "tls"/,
        );
        await settle();
        expect(calls.filter(c => c.name.startsWith("badchain") && !c.type.startsWith("redis-secure-topologies:"))).toEqual([]);
    });
});

describe("SpipedTunnel", () => {
    let tunnel: Components.SpipedTunnel;
    beforeAll(async () => {
        tunnel = new components.SpipedTunnel("tun", { networkName: "appnet", targetHost: "redis", maxConnections: 20 });
        await settle();
    }, 60_000);

    test("one 64-character key (381 bits; not RandomBytes, whose ID is the key) and two containers", () => {
        expect(ofType("random:index/randomBytes:RandomBytes", "tun-")).toEqual([]);
        const keys = ofType("random:index/randomPassword:RandomPassword", "tun-");
        expect(keys.map(k => [k.name, k.inputs.length, k.inputs.special])).toEqual([["tun-key", 64, false]]);
        expect(ofType(CONTAINER, "tun-").map(c => c.name)).toEqual(["tun-server", "tun-client"]);
    });

    test("the key reaches both ends as an uploaded file and never appears on a command line", () => {
        const key = Buffer.from(password("tun-key"));
        for (const c of ofType(CONTAINER, "tun-")) {
            expect(uploadsOf(c)).toEqual([{ file: "/etc/spiped/key", contentBase64: key.toString("base64"), permissions: "0600" }]);
            const argv = JSON.stringify(c.inputs.command);
            expect(argv).toContain("/etc/spiped/key");
            expect(argv).not.toContain(key.toString("base64"));
            expect(argv).not.toContain(password("tun-key"));
            expect(c.inputs.env).toBeUndefined();
        }
    });

    test("server forwards to the target; client publishes on loopback only", () => {
        const server = one(CONTAINER, "tun-server").inputs;
        expect(server.command.slice(0, 6)).toEqual(["spiped", "-d", "-s", "[0.0.0.0]:8379", "-t", "redis:6379"]);
        expect(server.command).toEqual(expect.arrayContaining(["-n", "20"]));
        expect(server.ports).toBeUndefined();
        const client = one(CONTAINER, "tun-client").inputs;
        expect(client.command.slice(0, 6)).toEqual(["spiped", "-e", "-s", "[0.0.0.0]:6390", "-t", "tun-server:8379"]);
        expect(client.ports).toEqual([{ internal: 6390, external: 6390, ip: "127.0.0.1" }]);
        // The client end joins only the tunnel's network; Redis's network sees the server end alone.
        expect(client.networksAdvanced).toEqual([{ name: "tun-net", aliases: ["tun-client"] }]);
        expect(server.networksAdvanced.map((n: { name: string }) => n.name)).toEqual(["appnet", "tun-net"]);
        expect(one("docker:index/network:Network", "tun-net").inputs.ipamConfigs).toEqual([{ subnet: "172.31.1.0/24" }]);
        expect([tunnel.listenAddress, tunnel.listenPort]).toEqual(["127.0.0.1", 6390]);
    });

    test("a bad tunnel subnet names the field", () => {
        expect(() => new components.SpipedTunnel("badnet", { networkName: "appnet", targetHost: "redis", subnet: "10.0.0.0/8" })).toThrow(
            /subnet must be an IPv4 subnet from \/16 to \/24/,
        );
    });

    test("a non-loopback listener throws before the key or a container exists", async () => {
        expect(() => new components.SpipedTunnel("open", { networkName: "appnet", targetHost: "redis", listenAddress: "0.0.0.0" })).toThrow(
            /listenAddress must be a loopback address/,
        );
        await settle();
        expect(calls.filter(c => c.name.startsWith("open") && !c.type.startsWith("redis-secure-topologies:"))).toEqual([]);
    });
});

describe("ClusterGateway", () => {
    let gw: Components.ClusterGateway;
    beforeAll(async () => {
        const cluster = new components.RedisCluster("gwc", { antiAffinity: "soft", subnet: "172.30.5.0/24", loopbackSans: true });
        gw = new components.ClusterGateway("gw", { cluster });
        await settle();
    }, 60_000);

    test("one key (keyRotation in its keepers), one transit network, a server and a client per node, keyed by node name", () => {
        expect(
            ofType("random:index/randomPassword:RandomPassword", "gw-").map(k => [
                k.name,
                k.inputs.length,
                k.inputs.special,
                k.inputs.keepers,
            ]),
        ).toEqual([["gw-key", 64, false, { rotation: "" }]]);
        expect(ofType("docker:index/network:Network", "gw-").map(n => [n.name, n.inputs.ipamConfigs, n.inputs.internal])).toEqual([
            ["gw-net-local", [{ subnet: "172.31.2.0/24" }], undefined],
        ]);
        const nodes = ["gwc-m0", "gwc-m1", "gwc-m2", "gwc-m0-r0", "gwc-m1-r0", "gwc-m2-r0"];
        expect(
            ofType(CONTAINER, "gw-")
                .map(c => c.name)
                .sort(),
        ).toEqual(nodes.flatMap(n => [`gw-${n}-server`, `gw-${n}-client`]).sort());
    });

    test("servers join the node network at fixed addresses and the transit network; clients only the transit network, published on loopback", () => {
        const server = one(CONTAINER, "gw-gwc-m1-server").inputs;
        expect(server.networksAdvanced).toEqual([
            { name: "gwc-net-local", ipv4Address: "172.30.5.248" },
            { name: "gw-net-local", ipv4Address: "172.31.2.16", aliases: ["gw-gwc-m1-server"] },
        ]);
        expect(server.command.slice(0, 6)).toEqual(["spiped", "-d", "-s", "[0.0.0.0]:8379", "-t", "172.30.5.16:6379"]);
        expect(server.ports).toBeUndefined();
        const client = one(CONTAINER, "gw-gwc-m1-client").inputs;
        expect(client.networksAdvanced).toEqual([{ name: "gw-net-local", aliases: ["gw-gwc-m1-client"] }]);
        expect(client.ports).toEqual([{ internal: 7006, external: 7006, ip: "127.0.0.1" }]);
        expect(client.command.slice(0, 6)).toEqual(["spiped", "-e", "-s", "[0.0.0.0]:7006", "-t", "172.31.2.16:8379"]);
        expect(gw.natMap["172.30.5.16:6379"]).toEqual({ host: "127.0.0.1", port: 7006 });
        // Both ends run the image by its ID, from one RemoteImage on the engine they share.
        expect(ofType("docker:index/remoteImage:RemoteImage", "gw-").map(i => i.name)).toEqual(["gw-local-image"]);
        expect([server.image, client.image]).toEqual(Array(2).fill(`sha256:${password(components.DEFAULT_IMAGE)}`));
    });

    test("the key reaches every container as a file from its writer only, and is a secret output", async () => {
        const key = Buffer.from(password("gw-key")).toString("base64");
        for (const c of ofType(CONTAINER, "gw-")) {
            expect(uploadsOf(c)).toEqual([{ file: "/etc/spiped/key", contentBase64: key, permissions: "0600" }]);
            expect(JSON.stringify(c.inputs.command)).not.toContain(key);
            expect(c.inputs.env).toBeUndefined();
            expect([c.name, c.inputs.capabilities, c.inputs.user, c.inputs.readOnly]).toEqual([
                c.name,
                { drops: ["ALL"] },
                "nobody:nogroup",
                true,
            ]);
        }
        expect(await pulumi.isSecret(gw.keyBase64)).toBe(true);
    });

    test("a TLS cluster without loopbackSans, or a basePort out of range, throws naming the field before any child exists", async () => {
        const plain = new components.RedisCluster("gwn", { antiAffinity: "soft", subnet: "172.30.6.0/24" });
        expect(() => new components.ClusterGateway("gwbad", { cluster: plain })).toThrow(
            /^cluster must be a RedisCluster with loopbackSans: true when it uses TLS/,
        );
        const ok = new components.RedisCluster("gwo", { antiAffinity: "soft", subnet: "172.30.7.0/24", loopbackSans: true });
        expect(() => new components.ClusterGateway("gwbad2", { cluster: ok, basePort: 65530 })).toThrow(
            /^basePort must be an integer from 1024 to 65522; got 65530$/,
        );
        expect(() => new components.ClusterGateway("gwbad3", { cluster: ok, subnets: { other: "172.31.9.0/24" } })).toThrow(
            /^subnets\.other must be a host of the cluster \(local\)/,
        );
        new components.ClusterGateway("gwok", { cluster: ok, subnet: "172.31.8.0/24", basePort: 9000 });
        expect(() => new components.ClusterGateway("gwbad4", { cluster: ok, subnet: "172.31.10.0/24", basePort: 9100 })).toThrow(
            /^cluster must be a RedisCluster no other ClusterGateway fronts .*gwok has them/,
        );
        await settle();
        expect(calls.filter(c => c.name.startsWith("gwbad") && !c.type.startsWith("redis-secure-topologies:"))).toEqual([]);
    }, 60_000);
});

describe("CertificateAuthority / Certificate", () => {
    let ca: Components.CertificateAuthority;
    let cert: Components.Certificate;
    beforeAll(async () => {
        ca = new components.CertificateAuthority("pki-ca", { commonName: "Test CA" });
        cert = new components.Certificate("pki-peer", {
            ca,
            commonName: "node1",
            use: "peer",
            dnsNames: ["node1", "localhost"],
            ipAddresses: ["10.0.0.5", "127.0.0.1"],
        });
        new components.Certificate("pki-client", { ca, commonName: "app", use: "client" });
        await settle();
    }, 60_000);

    test("the CA: an ECDSA P-256 key and a self-signed CA certificate", () => {
        expect(one("tls:index/privateKey:PrivateKey", "pki-ca-key").inputs).toMatchObject({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        const self = one("tls:index/selfSignedCert:SelfSignedCert", "pki-ca-cert").inputs;
        expect(self).toMatchObject({ isCaCertificate: true, validityPeriodHours: 87600, subject: { commonName: "Test CA" } });
        expect(self.allowedUses).toContain("cert_signing");
    });

    test("peer: a CSR with the SANs, signed by the CA for server and client auth", () => {
        const csr = one("tls:index/certRequest:CertRequest", "pki-peer-csr").inputs;
        expect(csr.dnsNames).toEqual(["node1", "localhost"]);
        expect(csr.ipAddresses).toEqual(["10.0.0.5", "127.0.0.1"]);
        expect(csr.subject).toMatchObject({ commonName: "node1" });
        const signed = one("tls:index/locallySignedCert:LocallySignedCert", "pki-peer-cert").inputs;
        expect(signed.allowedUses).toEqual(["digital_signature", "key_encipherment", "server_auth", "client_auth"]);
        expect(signed.certRequestPem).toBe(fake("CERTIFICATE REQUEST", "pki-peer-csr"));
        expect(signed.caCertPem).toBe(fake("CERTIFICATE", "pki-ca-cert"));
        expect(reveal(signed.caPrivateKeyPem)).toBe(fake("PRIVATE KEY", "pki-ca-key"));
        expect(signed).toMatchObject({ validityPeriodHours: 8760, earlyRenewalHours: 720 });
    });

    test("client: client auth only", () => {
        const uses = one("tls:index/locallySignedCert:LocallySignedCert", "pki-client-cert").inputs.allowedUses;
        expect(uses).toContain("client_auth");
        expect(uses).not.toContain("server_auth");
    });

    test("outputs: the certificate and its key", async () => {
        expect(await promiseOf(cert.certPem)).toBe(fake("CERTIFICATE", "pki-peer-cert"));
        expect(await promiseOf(cert.privateKeyPem)).toBe(fake("PRIVATE KEY", "pki-peer-key"));
    });

    test("an unknown use throws", () => {
        expect(() => new components.Certificate("pki-bad", { ca, commonName: "x", use: "both" as never })).toThrow(
            /use must be one of "server", "client", "peer"/,
        );
    });
});

describe("certificates: the validity and early renewal of a topology's node and client certificates", () => {
    const SIGNED = "tls:index/locallySignedCert:LocallySignedCert";
    beforeAll(async () => {
        new components.RedisCluster("lt", {
            antiAffinity: "soft",
            mutualTls: true,
            certificates: { validityHours: 24, earlyRenewalHours: 12 },
        });
        new components.ReplicationChain("ltc", { certificates: { validityHours: 48 } });
        await settle();
    }, 60_000);

    test("RedisCluster: every node certificate and (mutual TLS) the client's get them; the CA keeps its 10 years", () => {
        const signed = ofType(SIGNED, "lt-");
        expect(signed.map(c => c.name).sort()).toEqual(
            ["lt-client-cert", ...["m0", "m0-r0", "m1", "m1-r0", "m2", "m2-r0"].map(n => `lt-${n}-tls-cert`)].sort(),
        );
        for (const c of signed) expect([c.name, c.inputs.validityPeriodHours, c.inputs.earlyRenewalHours]).toEqual([c.name, 24, 12]);
        expect(one("tls:index/selfSignedCert:SelfSignedCert", "lt-ca-cert").inputs.validityPeriodHours).toBe(87600);
    });

    test("ReplicationChain: the same, early renewal half the validity when not given", () => {
        const signed = ofType(SIGNED, "ltc-");
        expect(signed.map(c => c.name).sort()).toEqual(["ltc-a-tls-cert", "ltc-b-tls-cert", "ltc-c-tls-cert", "ltc-client-cert"]);
        for (const c of signed) expect([c.name, c.inputs.validityPeriodHours, c.inputs.earlyRenewalHours]).toEqual([c.name, 48, 24]);
    });

    test("validated up front, naming the field: a certificate inside its renewal window from the start is refused", () => {
        expect(() =>
            components.resolveClusterArgs("x", { antiAffinity: "soft", certificates: { validityHours: 24, earlyRenewalHours: 24 } }),
        ).toThrow(/^certificates\.earlyRenewalHours must be an integer from 0 to 23; got 24$/);
        expect(() => components.resolveChainArgs("x", { certificates: { validityHours: 1 } })).toThrow(
            /^certificates\.validityHours must be an integer from 24 to 87600; got 1$/,
        );
    });
});

describe("password rotation", () => {
    test("passwordRotation is each user's own keeper; unset users keep the keepers they always had", async () => {
        new components.RedisCluster("prc", { antiAffinity: "soft", subnet: "172.27.4.0/24", passwordRotation: { app: "2026-12" } });
        await settle();
        const keepers = (user: string) => one("random:index/randomPassword:RandomPassword", `prc-users-${user}`).inputs.keepers;
        expect([keepers("app"), keepers("admin"), keepers("replication")]).toEqual([
            { rotation: "", passwordRotation: "2026-12" },
            { rotation: "" },
            { rotation: "" },
        ]);
    }, 60_000);

    test("the cluster's PasswordRotation: every node with masterauth over TLS, the wanted hashes plain, passwords secret", async () => {
        const r = one("pulumi-nodejs:dynamic/redis:PasswordRotation", "prc-passwords").inputs;
        const hash = (name: string) => crypto.createHash("sha256").update(password(name)).digest("hex");
        expect(r.owner).toBe("prc");
        expect(r.nodes).toHaveLength(6);
        expect(r.nodes.find((n: any) => n.name === "prc-m0-r0")).toEqual({
            name: "prc-m0-r0",
            host: "172.27.4.11",
            port: 6379,
            tls: true,
            masterauth: true,
        });
        expect(r.wanted).toEqual({
            admin: hash("prc-users-admin"),
            replication: hash("prc-users-replication"),
            app: hash("prc-users-app"),
            metrics: hash("prc-users-metrics"),
        });
        expect(r.graceSeconds).toBe(0);
        expect(r.admin).toEqual({ ...SECRET, value: { username: "admin", password: password("prc-users-admin") } });
        expect(isSecretValue(r.tls)).toBe(true);
    });

    test("the chain's: each node through its own listener, masterauth on the replicas only, the grace period given", async () => {
        new components.ReplicationChain("prch", { subnet: "172.27.5.0/24", passwordGraceSeconds: 600 });
        await settle();
        const r = one("pulumi-nodejs:dynamic/redis:PasswordRotation", "prch-passwords").inputs;
        expect(r.nodes.map((n: any) => [n.name, n.port, n.tls, n.masterauth])).toEqual([
            ["prch-a", 6379, false, false],
            ["prch-b", 6379, false, true],
            ["prch-c", 6380, true, true],
        ]);
        expect(r.graceSeconds).toBe(600);
        expect(uploadsOf(one(CONTAINER, "prch-a")).map(u => u.file)).not.toContain("/etc/redis-secure/masterauth.conf");
        expect(uploadsOf(one(CONTAINER, "prch-b")).map(u => u.file)).toContain("/etc/redis-secure/masterauth.conf");
    }, 60_000);
});

describe("secrets", () => {
    test("private keys, the spiped key and the ACL file are secret outputs; certificates are not", async () => {
        const ca = new components.CertificateAuthority("sec-ca");
        const cert = new components.Certificate("sec-cert", { ca, commonName: "sec", use: "server" });
        const tunnel = new components.SpipedTunnel("sec-tun", { networkName: "n", targetHost: "redis" });
        const users = new components.RedisUsers("sec-users");
        expect(await pulumi.isSecret(ca.privateKeyPem)).toBe(true);
        expect(await pulumi.isSecret(cert.privateKeyPem)).toBe(true);
        expect(await pulumi.isSecret(tunnel.keyBase64)).toBe(true);
        expect(await pulumi.isSecret(users.aclFile)).toBe(true);
        // users.app.password is secret through RandomPassword's additionalSecretOutputs, which the mock monitor ignores.
        expect(await pulumi.isSecret(ca.certPem)).toBe(false);
        expect(await pulumi.isSecret(cert.certPem)).toBe(false);
        expect(await promiseOf(users.aclFile)).toMatch(/^user default off\n/);
        expect(await promiseOf(tunnel.keyBase64)).toBe(Buffer.from(password("sec-tun-key")).toString("base64"));
    });
});
