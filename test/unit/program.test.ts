// The program's stack config checks: every bad key is refused before any component exists, named as the stack config
// key the user wrote; the example stacks in stacks/ pass. Pure functions, no Pulumi engine.
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { checkSettings, ConfigReader, PROJECT, STACK_CONFIG, stackSettings } from "../../program";
import { ValidationError } from "../../components/validate";

/** A stand-in for pulumi.Config over plain values, as a stack file holds them. */
function config(values: Record<string, unknown>): ConfigReader {
    // Unchecked, as pulumi.Config's getters are (a stack file may hold a string where a number belongs).
    const value = <T>(k: string) => values[k] as T | undefined;
    return { get: value<string>, getNumber: value<number>, getBoolean: value<boolean>, getObject: value };
}
const check = (values: Record<string, unknown>) => checkSettings("dev", stackSettings(config({ clusterAntiAffinity: "soft", ...values })));
const key = (k: string) => `stack config ${PROJECT}:${k}`;

describe("stack config is checked before anything is created", () => {
    test.each<[string, Record<string, unknown>, string]>([
        ["too few masters", { clusterMasters: 2 }, `${key("clusterMasters")} must be an integer from 3 to 100`],
        ["negative replicas", { clusterReplicasPerMaster: -1 }, `${key("clusterReplicasPerMaster")} must be an integer from 0 to`],
        [
            "unknown anti-affinity",
            { clusterAntiAffinity: "maybe" },
            `${key("clusterAntiAffinity")} must be one of "hard", "soft"; got "maybe"`,
        ],
        ["hard anti-affinity on one engine", { clusterAntiAffinity: "hard" }, `${key("clusterHosts")} must be at least 2 hosts`],
        [
            "a host that is a bare name",
            { clusterHosts: ["a", "b"] },
            `${key("clusterHosts[0]")} must be a host { name, dockerHost?, subnet? }; got "a"`,
        ],
        [
            "two hosts on the local engine",
            { clusterHosts: [{ name: "a" }, { name: "b", subnet: "172.26.2.0/24" }] },
            `${key("clusterHosts[1]")} must be on a Docker engine of its own (a provider or dockerHost that hosts[0] does not have; one host at most may be the local engine); got "b"`,
        ],
        [
            "two hosts on one remote engine",
            {
                clusterHosts: [
                    { name: "a", dockerHost: "ssh://x" },
                    { name: "b", dockerHost: "ssh://x" },
                ],
            },
            `${key("clusterHosts[1]")} must be on a Docker engine of its own`,
        ],
        [
            "a host with an http:// engine",
            { clusterHosts: [{ name: "a", dockerHost: "http://a:2375" }, { name: "b" }] },
            `${key("clusterHosts[0].dockerHost")} must be a Docker engine address: unix:///path/docker.sock, tcp://host:port or ssh://[user@]host[:port]; got "http://a:2375"`,
        ],
        [
            "a tcp engine without a port",
            { clusterHosts: [{ name: "a" }, { name: "b", dockerHost: "tcp://b" }] },
            `${key("clusterHosts[1].dockerHost")} must be a Docker engine address`,
        ],
        [
            "an upper-case host name",
            { clusterHosts: [{ name: "A" }, { name: "b", dockerHost: "ssh://b" }] },
            `${key("clusterHosts[0].name")} must be lower-case letters`,
        ],
        ["a bad cluster subnet", { clusterSubnet: "172.30.0.0/25" }, `${key("clusterSubnet")} must be an IPv4 subnet from /16 to /24`],
        ["an unknown hop transport", { chainHops: ["plain", "quic"] }, `${key("chainHops[1]")} must be one of "plain", "tls"; got "quic"`],
        ["no hops", { chainHops: [] }, `${key("chainHops")} must be a list of 1 to 9 transports`],
        [
            "a tunnel port out of range",
            { tunnelListenPort: 70000 },
            `${key("tunnelListenPort")} must be an integer from 1 to 65535; got 70000`,
        ],
        [
            "an unknown cluster fsync policy",
            { clusterAppendfsync: "sometimes" },
            `${key("clusterAppendfsync")} must be one of "always", "everysec", "no"; got "sometimes"`,
        ],
        [
            "a cluster append-only flag as a string",
            { clusterAppendonly: "yes" },
            `${key("clusterAppendonly")} must be true or false; got "yes"`,
        ],
        ["a mutual TLS flag as a string", { clusterMutualTls: "yes" }, `${key("clusterMutualTls")} must be true or false; got "yes"`],
        [
            "an unknown chain fsync policy",
            { chainAppendfsync: "never" },
            `${key("chainAppendfsync")} must be one of "always", "everysec", "no"; got "never"`,
        ],
        [
            "a rotation of an unknown user",
            { clusterPasswordRotation: { apps: "1" } },
            `${key("clusterPasswordRotation.apps")} must be one of the users "admin", "replication", "app", "metrics" (a key of passwordRotation); got "apps"`,
        ],
        [
            "a rotation value that is not a string",
            { chainPasswordRotation: { app: 3 } },
            `${key("chainPasswordRotation.app")} must be a string (any value; changing it rotates the app user's password); got 3`,
        ],
        [
            "a rotation that is a string",
            { clusterPasswordRotation: "2026-12" },
            `${key("clusterPasswordRotation")} must be an object { app?, admin?, replication? } of strings (changing one rotates that user's password); got "2026-12"`,
        ],
        [
            "a negative grace period",
            { passwordGraceSeconds: -1 },
            `${key("passwordGraceSeconds")} must be an integer from 0 to 31536000; got -1`,
        ],
        [
            "a negative cluster CA generation",
            { clusterCaGeneration: -1 },
            `${key("clusterCaGeneration")} must be an integer from 0 to 1000000; got -1`,
        ],
        [
            "a fractional chain CA generation",
            { chainCaGeneration: 0.5 },
            `${key("chainCaGeneration")} must be an integer from 0 to 1000000; got 0.5`,
        ],
        ["a negative CA grace", { caGraceHours: -2 }, `${key("caGraceHours")} must be an integer from 0 to 8784; got -2`],
        ["a bad maxmemory", { maxmemory: "lots" }, `${key("maxmemory")} must be a size like "256mb" or "1gb"; got "lots"`],
        [
            "the tunnel on the chain's subnet",
            { tunnelSubnet: "172.31.0.0/24" },
            `${key("tunnelSubnet")} must be a subnet that does not overlap chainSubnet (172.31.0.0/24); got "172.31.0.0/24"`,
        ],
        [
            "a cluster subnet around the chain's",
            { clusterSubnet: "172.31.0.0/16" },
            `${key("clusterSubnet")} must be a subnet that does not overlap chainSubnet (172.31.0.0/24); got "172.31.0.0/16"`,
        ],
        [
            "a local host's own subnet on the tunnel's",
            {
                clusterHosts: [
                    { name: "a", dockerHost: "ssh://a" },
                    { name: "b", subnet: "172.31.1.0/24" },
                ],
            },
            `${key("clusterHosts[1].subnet")} must be a subnet that does not overlap tunnelSubnet (172.31.1.0/24); got "172.31.1.0/24"`,
        ],
    ])("%s", (_, values, message) => {
        let error: unknown;
        try {
            check(values);
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as Error).message.startsWith(message)).toBe(true);
        // The component's field stays as data; only the message names the stack config key.
        expect((error as ValidationError).label).toBe(message.split(" must be ")[0]);
    });

    test.each<[string, Record<string, unknown>]>([
        ["the defaults with soft anti-affinity", {}],
        [
            "hosts on other engines may reuse the local subnets (each engine has its own networks)",
            {
                clusterAntiAffinity: "hard",
                clusterHosts: [
                    { name: "h1", dockerHost: "ssh://ops@redis-1", subnet: "172.31.0.0/24" },
                    { name: "h2", dockerHost: "tcp://10.0.0.2:2376" },
                    { name: "h3", dockerHost: "unix:///run/h3.sock", subnet: "172.26.3.0/24" },
                ],
            },
        ],
        ["one local host and one remote", { clusterHosts: [{ name: "a" }, { name: "b", dockerHost: "ssh://b" }] }],
        ["without the chain its subnets are free", { deployChain: false, clusterSubnet: "172.31.0.0/16" }],
        [
            "password rotations and a grace period",
            {
                clusterPasswordRotation: { app: "2026-12", admin: "1" },
                chainPasswordRotation: { replication: "r2" },
                passwordGraceSeconds: 3600,
            },
        ],
    ])("accepted: %s", (_, values) => {
        expect(() => check(values)).not.toThrow();
    });

    test.each(fs.readdirSync(path.join(__dirname, "../../stacks")).filter(f => /^Pulumi\..+\.yaml$/.test(f)))(
        "the example stack %s passes",
        file => {
            const doc = yaml.load(fs.readFileSync(path.join(__dirname, "../../stacks", file), "utf8")) as {
                config: Record<string, unknown>;
            };
            const values = Object.fromEntries(Object.entries(doc.config).map(([k, val]) => [k.replace(`${PROJECT}:`, ""), val]));
            expect(() => checkSettings(file.split(".")[1], stackSettings(config(values)))).not.toThrow();
        },
    );
});

describe("stack config metrics", () => {
    test("off by default; on, both topologies get an exporter with their defaults", () => {
        const off = stackSettings(config({}));
        expect([off.chain?.metrics, off.cluster?.metrics]).toEqual([undefined, undefined]);
        const on = stackSettings(config({ metrics: true }));
        expect([on.chain?.metrics, on.cluster?.metrics]).toEqual([true, true]);
        expect(() => check({ metrics: true })).not.toThrow();
    });

    test("an exporter network over another local network is refused naming the key", () => {
        expect(() => check({ metrics: true, tunnelSubnet: "172.31.5.0/24" })).toThrow(
            'stack config redis-secure-topologies:metrics (the chain exporter\'s network) must be a subnet that does not overlap tunnelSubnet (172.31.5.0/24); got "172.31.5.0/24"',
        );
    });
});

describe("STACK_CONFIG is the one list of stack config keys", () => {
    test("Pulumi.yaml declares the same keys with the same types and defaults (which the plain pulumi CLI shows)", () => {
        type Declared = Record<string, { type: string; default: unknown }>;
        const doc = yaml.load(fs.readFileSync(path.join(__dirname, "../../Pulumi.yaml"), "utf8")) as { config: Declared };
        const typesAndDefaults = (keys: Declared) => Object.fromEntries(Object.entries(keys).map(([k, d]) => [k, [d.type, d.default]]));
        expect(typesAndDefaults(doc.config)).toStrictEqual(typesAndDefaults(STACK_CONFIG));
    });

    test("each key sets exactly the component fields it lists (by which errors name it)", () => {
        // A value of its type unlike every other key's (deployChain and deployCluster set no field: left unset).
        const sample = (k: keyof typeof STACK_CONFIG, i: number): unknown =>
            ({ string: `${k}-value`, integer: 1000 + i, boolean: !STACK_CONFIG[k].default, array: [k], object: { [k]: k } })[
                STACK_CONFIG[k].type
            ];
        const keys = (Object.keys(STACK_CONFIG) as (keyof typeof STACK_CONFIG)[]).filter(k => !k.startsWith("deploy"));
        const values = Object.fromEntries(keys.map((k, i) => [k, sample(k, i)]));
        const s = stackSettings(config(values));
        for (const component of ["chain", "tunnel", "cluster"] as const) {
            // Every field the component gets, "ca" as its two ("ca.generation").
            const fields = Object.entries(s[component] ?? {}).flatMap(([f, val]) =>
                f === "ca" ? Object.entries(val as object).map(([g, w]) => [`ca.${g}`, w]) : [[f, val]],
            );
            const listed = keys.flatMap(k => (STACK_CONFIG[k].sets[component] ?? []).map(f => [f, values[k]]));
            // The chain's head always listens in plain text (the tunnel in front of it decrypts).
            if (component === "chain") listed.push(["headListener", "plain"]);
            expect(Object.fromEntries(fields)).toStrictEqual(Object.fromEntries(listed));
        }
    });
});
