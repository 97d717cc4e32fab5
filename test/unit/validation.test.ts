// Bad input throws before any resource exists, with a message naming the field and what is allowed.
import { placeClusterNodes, ClusterShape } from "../../components/cluster/plan";
import { validateCertificate } from "../../components/pki/validate";
import { resolveClusterArgs, RedisClusterArgs } from "../../components/cluster";
import { APP_USER_RULES, renderAclFile, renderRedisConf } from "../../components/redis/conf";
import { resolveChainArgs, ReplicationChainArgs } from "../../components/replication";
import { ChainShape, placeChainNodes, validateChain } from "../../components/replication/plan";
import { KEY_BYTES, TunnelShape, validateTunnel } from "../../components/spiped/plan";
import { aclRules, MAXMEMORY_POLICIES, memorySize, ValidationError } from "../../components/validate";

const cluster: ClusterShape = { name: "rc", masters: 3, replicasPerMaster: 1, hosts: ["local"], subnet: "172.30.0.0/24", port: 6379 };
const chain: ChainShape = {
    name: "ch",
    hops: ["plain", "tls"],
    headListener: "plain",
    plainPort: 6379,
    tlsPort: 6380,
    subnet: "172.31.0.0/24",
};
const tunnel: TunnelShape = {
    name: "tun",
    targetHost: "redis",
    targetPort: 6379,
    serverPort: 8379,
    listenAddress: "127.0.0.1",
    listenPort: 6390,
    allowNonLoopbackListener: false,
    maxConnections: 100,
    keepalive: true,
    connectTimeoutSeconds: 5,
    keyBytes: KEY_BYTES,
};
const cert = {
    commonName: "node",
    dnsNames: ["node", "localhost"],
    ipAddresses: ["172.30.0.10", "127.0.0.1"],
    use: "peer",
    validityHours: 24 * 365,
};

/** Runs `f` and returns the ValidationError it throws (failing the test if it does not throw one). */
function errorOf(f: () => unknown): ValidationError {
    try {
        f();
    } catch (e) {
        expect(e).toBeInstanceOf(ValidationError);
        return e as ValidationError;
    }
    throw new Error("expected a ValidationError, but nothing was thrown");
}

describe("placeClusterNodes", () => {
    test.each<[string, Partial<ClusterShape>, RegExp]>([
        ["2 masters", { masters: 2 }, /^masters must be an integer from 3 to 100 .*; got 2$/],
        ["fractional masters", { masters: 3.5 }, /^masters must be an integer from 3 to 100/],
        ["101 masters", { masters: 101 }, /^masters must be an integer from 3 to 100/],
        ["replicasPerMaster -1", { replicasPerMaster: -1 }, /^replicasPerMaster must be an integer from 0 to 5; got -1$/],
        ["replicasPerMaster 6", { replicasPerMaster: 6 }, /^replicasPerMaster must be an integer from 0 to 5; got 6$/],
        ["duplicate hosts", { hosts: ["h1", "h1"] }, /^hosts must be distinct host names; got \["h1","h1"\]$/],
        ["no hosts", { hosts: [] }, /^hosts must be a non-empty list of host names/],
        ["upper-case host", { hosts: ["Host1"] }, /^hosts\[0\] must be lower-case letters, digits and '-'/],
        ["bad cluster name", { name: "-rc" }, /^name must be lower-case letters, digits and '-'/],
        [
            "subnet without prefix",
            { subnet: "172.30.0.0" },
            /^subnet must be an IPv4 subnet from \/16 to \/24 in CIDR form, starting on its block/,
        ],
        ["subnet /25", { subnet: "172.30.0.0/25" }, /^subnet must be an IPv4 subnet from \/16 to \/24 in CIDR form/],
        ["subnet not ending in .0", { subnet: "172.30.0.5/24" }, /^subnet must be an IPv4 subnet from \/16 to \/24 in CIDR form/],
        ["subnet octet > 255", { subnet: "172.300.0.0/24" }, /^subnet must be an IPv4 subnet from \/16 to \/24 in CIDR form/],
        [
            "subnet too small",
            { masters: 41, replicasPerMaster: 0 },
            /^subnet must be large enough for 41 shards of 6 addresses \(246\); got "172.30.0.0\/24"$/,
        ],
        [
            "port 60000 (bus would be 70000)",
            { port: 60000 },
            /^port must be at most 55535 \(the cluster bus uses port \+ 10000\); got 60000$/,
        ],
        ["port 0", { port: 0 }, /^port must be an integer from 1 to 65535; got 0$/],
        [
            "host without a name",
            { hosts: [{ subnet: "172.26.1.0/24" } as never] },
            /^hosts\[0\]\.name must be lower-case letters, digits and '-'/,
        ],
        ["host that is neither name nor object", { hosts: [7 as never] }, /^hosts\[0\] must be a host name or \{ name, subnet \}; got 7$/],
        ["duplicate host objects", { hosts: [{ name: "h1" }, "h1"] }, /^hosts must be distinct host names; got \["h1","h1"\]$/],
        [
            "bad host subnet",
            { hosts: ["h1", { name: "h2", subnet: "172.26.2.0/25" }] },
            /^hosts\[1\]\.subnet must be an IPv4 subnet from \/16 to \/24/,
        ],
        [
            "host subnet overlapping another host's",
            {
                hosts: [
                    { name: "h1", subnet: "172.26.0.0/16" },
                    { name: "h2", subnet: "172.26.2.0/24" },
                ],
            },
            /^hosts\[1\]\.subnet must be a subnet that does not overlap hosts\[0\]\.subnet \(172\.26\.0\.0\/16\); got "172\.26\.2\.0\/24"$/,
        ],
        [
            "host subnet overlapping the shared subnet",
            { hosts: ["h1", { name: "h2", subnet: "172.30.0.0/16" }] },
            /^hosts\[1\]\.subnet must be a subnet that does not overlap subnet \(172\.30\.0\.0\/24\); got "172\.30\.0\.0\/16"$/,
        ],
        [
            "host subnet too small for every shard",
            { masters: 41, replicasPerMaster: 4, hosts: ["a", "b", { name: "c", subnet: "172.26.3.0/24" }] },
            /^subnet must be large enough for 41 shards of 6 addresses \(246\); got "172\.30\.0\.0\/24"$/,
        ],
        [
            "4 masters on 3 hosts",
            { masters: 4, hosts: ["a", "b", "c"] },
            /^masters must be a count that leaves a majority when any one host is lost/,
        ],
    ])("%s", (_what, override, message) => {
        expect(errorOf(() => placeClusterNodes({ ...cluster, ...override })).message).toMatch(message);
    });

    test.each<[string, Partial<ClusterShape>, number]>([
        ["the default 3 x 1", {}, 6],
        ["3 masters, no replicas", { replicasPerMaster: 0 }, 3],
        ["bus port exactly 65535", { port: 55535 }, 6],
        ["a /16 subnet", { subnet: "10.1.0.0/16" }, 6],
        ["40 shards of 6 fill a /24", { masters: 40, replicasPerMaster: 5 }, 240],
        ["three hosts, 5 replicas", { hosts: ["h1", "h2", "h3"], replicasPerMaster: 5 }, 18],
        [
            "two hosts with the same explicit subnet (one address range)",
            {
                hosts: [
                    { name: "a", subnet: "172.26.1.0/24" },
                    { name: "b", subnet: "172.26.1.0/24" },
                ],
            },
            6,
        ],
        ["a host subnet equal to the shared one", { hosts: ["a", { name: "b", subnet: "172.30.0.0/24" }] }, 6],
    ])("accepts %s", (_what, override, count) => {
        expect(placeClusterNodes({ ...cluster, ...override })).toHaveLength(count);
    });
});

describe("placeChainNodes / validateChain", () => {
    test.each<[string, Partial<ChainShape>, RegExp]>([
        ["unknown transport in hops", { hops: ["plain", "ssl" as never] }, /^hops\[1\] must be one of "plain", "tls"; got "ssl"$/],
        ["empty hops", { hops: [] }, /^hops must be a list of 1 to 9 transports \("plain" or "tls"\); got \[\]$/],
        ["10 hops", { hops: Array(10).fill("tls") }, /^hops must be a list of 1 to 9 transports/],
        ["unknown headListener", { headListener: "ssl" as never }, /^headListener must be one of "plain", "tls"; got "ssl"$/],
        ["equal plainPort and tlsPort", { tlsPort: 6379 }, /^plainPort\/tlsPort must be distinct ports; got \[6379,6379\]$/],
        ["plainPort 70000", { plainPort: 70000 }, /^plainPort must be an integer from 1 to 65535; got 70000$/],
        ["bad subnet", { subnet: "10.0.0.0/8" }, /^subnet must be an IPv4 subnet from \/16 to \/24 in CIDR form/],
    ])("%s", (_what, override, message) => {
        expect(errorOf(() => validateChain({ ...chain, ...override })).message).toMatch(message);
        expect(errorOf(() => placeChainNodes({ ...chain, ...override })).message).toMatch(message);
    });

    test.each<Partial<ChainShape>>([{}, { hops: ["tls"] }, { hops: Array(9).fill("plain"), headListener: "tls" }])(
        "accepts %j",
        override => {
            expect(() => validateChain({ ...chain, ...override })).not.toThrow();
            expect(placeChainNodes({ ...chain, ...override })).toHaveLength((override.hops ?? chain.hops).length + 1);
        },
    );
});

describe("validateTunnel", () => {
    test.each<[string, Partial<TunnelShape>, RegExp]>([
        [
            "listenAddress 0.0.0.0",
            { listenAddress: "0.0.0.0" },
            /^listenAddress must be a loopback address \(127\.x\.x\.x\) unless allowNonLoopbackListener is true; got "0.0.0.0"$/,
        ],
        [
            "listenAddress not an address",
            { listenAddress: "localhost" },
            /^listenAddress must be an IPv4 address such as "127.0.0.1"; got "localhost"$/,
        ],
        [
            "listenAddress octet > 255",
            { listenAddress: "127.0.0.256" },
            /^listenAddress must be an IPv4 address such as "127.0.0.1"; got "127.0.0.256"$/,
        ],
        // Stack config read with get() instead of getBoolean() gives strings: "false" must not enable the option.
        [
            'allowNonLoopbackListener as the string "false"',
            { listenAddress: "0.0.0.0", allowNonLoopbackListener: "false" as never },
            /^allowNonLoopbackListener must be true or false; got "false"$/,
        ],
        ['keepalive as the string "no"', { keepalive: "no" as never }, /^keepalive must be true or false; got "no"$/],
        ["keyBytes 16", { keyBytes: 16 }, /^keyBytes must be 32 \(spiped keys are 32 random bytes\); got 16$/],
        ["targetPort 0", { targetPort: 0 }, /^targetPort must be an integer from 1 to 65535; got 0$/],
        ["serverPort 0", { serverPort: 0 }, /^serverPort must be an integer from 1 to 65535; got 0$/],
        ["listenPort 65536", { listenPort: 65536 }, /^listenPort must be an integer from 1 to 65535; got 65536$/],
        ["maxConnections 0", { maxConnections: 0 }, /^maxConnections must be an integer from 1 to 10000; got 0$/],
        ["connectTimeoutSeconds 301", { connectTimeoutSeconds: 301 }, /^connectTimeoutSeconds must be an integer from 1 to 300; got 301$/],
        ["targetHost with a space", { targetHost: "redis host" }, /^targetHost must be a host name or IPv4 address/],
        ["name with an underscore", { name: "my_tunnel" }, /^name must be lower-case letters, digits and '-'/],
    ])("%s", (_what, override, message) => {
        expect(errorOf(() => validateTunnel({ ...tunnel, ...override })).message).toMatch(message);
    });

    test.each<Partial<TunnelShape>>([
        {},
        { listenAddress: "127.0.0.2" },
        { listenAddress: "0.0.0.0", allowNonLoopbackListener: true },
        { maxConnections: 10000, connectTimeoutSeconds: 300, keepalive: false },
    ])("accepts %j", override => {
        expect(() => validateTunnel({ ...tunnel, ...override })).not.toThrow();
    });
});

describe("validateCertificate", () => {
    test.each<[string, Record<string, unknown>, RegExp]>([
        ['use "both"', { use: "both" }, /^use must be one of "server", "client", "peer"; got "both"$/],
        ["validityHours 1", { validityHours: 1 }, /^validityHours must be an integer from 24 to 87600; got 1$/],
        ["validityHours 11 years", { validityHours: 24 * 365 * 11 }, /^validityHours must be an integer from 24 to 87600/],
        [
            "an ipAddress that is a host name",
            { ipAddresses: ["127.0.0.1", "redis-host"] },
            /^ipAddresses\[1\] must be an IPv4 or IPv6 address; got "redis-host"$/,
        ],
        ["an incomplete IPv4 address", { ipAddresses: ["10.0.0"] }, /^ipAddresses\[0\] must be an IPv4 or IPv6 address; got "10.0.0"$/],
        [
            "a DNS name with a space",
            { dnsNames: ["bad name"] },
            /^dnsNames\[0\] must be a DNS name \(dot-separated labels of letters, digits and '-'\); got "bad name"$/,
        ],
        ["empty commonName", { commonName: "" }, /^commonName must be a string of 1 to 64 characters; got ""$/],
        ["65-character commonName", { commonName: "x".repeat(65) }, /^commonName must be a string of 1 to 64 characters/],
    ])("%s", (_what, override, message) => {
        expect(errorOf(() => validateCertificate({ ...cert, ...override })).message).toMatch(message);
    });

    test.each<Record<string, unknown>>([
        {},
        { use: "server", validityHours: 24 },
        { use: "client", dnsNames: [], ipAddresses: ["::1", "fe80::1"], validityHours: 87600 },
        { dnsNames: ["*.redis.internal", "a"] },
    ])("accepts %j", override => {
        expect(() => validateCertificate({ ...cert, ...override })).not.toThrow();
    });
});

describe("ValidationError carries its parts as data", () => {
    test("field, allowed and got are readable without parsing the message", () => {
        const e = errorOf(() => placeClusterNodes({ ...cluster, masters: 2 }));
        expect(e).toMatchObject({ field: "masters", got: 2, label: "masters" });
        expect(e.allowed).toMatch(/^an integer from 3 to 100/);
        expect(e.message).toBe(`masters must be ${e.allowed}; got 2`);
    });

    test("relabel names the field as a caller's setting and keeps the data", () => {
        const e = errorOf(() => memorySize("maxmemory", "lots")).relabel("stack config x:maxmemory");
        expect(e).toBeInstanceOf(ValidationError);
        expect(e).toMatchObject({ field: "maxmemory", label: "stack config x:maxmemory", got: "lots" });
        expect(e.message).toBe('stack config x:maxmemory must be a size like "256mb" or "1gb"; got "lots"');
    });

    test("a detail replaces the value", () => {
        expect(
            new ValidationError({ field: "hosts[0].dockerHost", allowed: "a Docker engine that answers", detail: 'host "a" did not' })
                .message,
        ).toBe('hosts[0].dockerHost must be a Docker engine that answers; host "a" did not');
    });
});

describe("memorySize", () => {
    test.each(["0", "0mb", "256 mb", "1tb", "-1gb", "", "mb"])("rejects %j", bad => {
        expect(errorOf(() => memorySize("maxmemory", bad)).message).toBe(
            `maxmemory must be a size like "256mb" or "1gb"; got ${JSON.stringify(bad)}`,
        );
    });
    test("rejects a number", () => {
        expect(errorOf(() => memorySize("maxmemory", 256)).message).toBe('maxmemory must be a size like "256mb" or "1gb"; got 256');
    });
    test.each(["256mb", "1gb", "1GB", "100kb", "1048576", "42b"])("accepts %j", good => {
        expect(memorySize("maxmemory", good)).toBe(good);
    });
});

describe("renderAclFile", () => {
    const ok = "a".repeat(16);
    test.each<[string, { name: string; password: string }, string]>([
        [
            "a 15-character password",
            { name: "app", password: "a".repeat(15) },
            'ACL user "app": password must be at least 16 characters without spaces',
        ],
        [
            "a password with a space",
            { name: "app", password: "a".repeat(10) + " " + "b".repeat(10) },
            'ACL user "app": password must be at least 16 characters without spaces',
        ],
        ["a user name with a space", { name: "my app", password: ok }, 'ACL user name "my app" may use only letters, digits, _ and -'],
        ["a user name with '>'", { name: "app>x", password: ok }, 'ACL user name "app>x" may use only letters, digits, _ and -'],
        ["an empty user name", { name: "", password: ok }, 'ACL user name "" may use only letters, digits, _ and -'],
    ])("rejects %s", (_what, user, message) => {
        expect(() => renderAclFile([{ ...user, rules: APP_USER_RULES }])).toThrow(message);
    });

    test("accepts a 16-character password and names with _ and -", () => {
        expect(renderAclFile([{ name: "app_user-1", password: ok, rules: APP_USER_RULES }])).toBe(
            `user default off\nuser app_user-1 on >${ok} ${APP_USER_RULES}\n`,
        );
    });
});

describe("renderAclFile and renderRedisConf refuse a line break that reached them", () => {
    test("ACL rules with a newline would add a user", () => {
        expect(() => renderAclFile([{ name: "app", password: "a".repeat(16), rules: "~* +@all\nuser evil on nopass +@all" }])).toThrow(
            'ACL user "app": rules hold a line break (it would start a new user)',
        );
    });
    test("a redis.conf value with a newline would add a directive", () => {
        expect(() => renderRedisConf({ port: 6379, maxmemoryPolicy: 'noeviction\nrename-command CONFIG ""' })).toThrow(
            'redis.conf line "maxmemory-policy noeviction\\nrename-command CONFIG \\"\\"" holds a line break',
        );
    });
});

// Every string a component writes into redis.conf, users.acl, a command line or a container setting is checked at
// preview (the plan functions run before any resource exists), naming the field and what is allowed.
describe("component args that reach config files and containers", () => {
    const aclAllowed =
        "ACL key, channel and command rules separated by spaces (~pattern, %R~pattern, &channel, +command, " +
        "-@category, allkeys, ...), without password, on/off, reset or selector rules";
    const policies = MAXMEMORY_POLICIES.map(p => `"${p}"`).join(", ");
    test.each<[string, RedisClusterArgs, string]>([
        ["an unknown maxmemoryPolicy", { maxmemoryPolicy: "bogus" }, `maxmemoryPolicy must be one of ${policies}; got "bogus"`],
        [
            "a maxmemoryPolicy with a newline",
            { maxmemoryPolicy: "noeviction\nrequirepass x" },
            `maxmemoryPolicy must be one of ${policies}; got "noeviction\\nrequirepass x"`,
        ],
        [
            "appRules adding a user",
            { appRules: "~* +@all\nuser evil on nopass +@all" },
            `appRules must be ${aclAllowed}; got "+@all\\nuser"`,
        ],
        ["appRules with nopass", { appRules: "~* +@all nopass" }, `appRules must be ${aclAllowed}; got "nopass"`],
        ["appRules adding a password", { appRules: "~* +@all >mine" }, `appRules must be ${aclAllowed}; got ">mine"`],
        ["appRules removing a password", { appRules: "<other ~*" }, `appRules must be ${aclAllowed}; got "<other"`],
        ["appRules with a password hash", { appRules: "#0123 ~*" }, `appRules must be ${aclAllowed}; got "#0123"`],
        ["appRules turning the user off", { appRules: "off" }, `appRules must be ${aclAllowed}; got "off"`],
        ["appRules resetting the user", { appRules: "reset ~* +@all" }, `appRules must be ${aclAllowed}; got "reset"`],
        ["appRules resetting passwords", { appRules: "resetpass" }, `appRules must be ${aclAllowed}; got "resetpass"`],
        ["appRules with a selector", { appRules: "(~x +get)" }, `appRules must be ${aclAllowed}; got "(~x"`],
        ["empty appRules", { appRules: " " }, `appRules must be ${aclAllowed}; got " "`],
        [
            "an image with a space",
            { image: "redis --privileged" },
            'image must be a Docker image reference such as "registry.example.com/team/redis:7.0"; got "redis --privileged"',
        ],
        ["tls as a string", { tls: "false" as never }, 'tls must be true or false; got "false"'],
        [
            "plain text across hosts",
            { tls: false, hosts: [{ name: "a" }, { name: "b", dockerHost: "tcp://10.0.0.2:2375" }] },
            "tls must be true when the cluster spans several hosts (passwords would cross the network in clear, e.g. MIGRATE's AUTH2), unless allowPlaintextAcrossHosts is true; got false",
        ],
        [
            "mutualTls without TLS",
            { tls: false, mutualTls: true },
            "mutualTls must be false when tls is false (client certificates need TLS); got true",
        ],
        ["internalNetwork as a string", { internalNetwork: "true" as never }, 'internalNetwork must be true or false; got "true"'],
        [
            "internalNetwork across hosts",
            { internalNetwork: true, hosts: [{ name: "a" }, { name: "b", dockerHost: "tcp://10.0.0.2:2375" }] },
            "internalNetwork must be false (or unset) when the cluster spans several hosts (internal networks have no route between engines); got true",
        ],
        [
            "the same engine twice",
            {
                hosts: [
                    { name: "a", dockerHost: "tcp://10.0.0.2:2375" },
                    { name: "b", dockerHost: "tcp://10.0.0.2:2375" },
                ],
            },
            'hosts[1] must be on a Docker engine of its own (a provider or dockerHost that hosts[0] does not have; one host at most may be the local engine); got "b"',
        ],
    ])("RedisCluster: %s", (_what, args, message) => {
        expect(errorOf(() => resolveClusterArgs("rc", { antiAffinity: "soft", ...args })).message).toBe(message);
    });

    test.each<[string, ReplicationChainArgs, string]>([
        ["an unknown maxmemoryPolicy", { maxmemoryPolicy: "lru" }, `maxmemoryPolicy must be one of ${policies}; got "lru"`],
        [
            "mutualTls with no TLS listener",
            { hops: ["plain", "plain"], mutualTls: true },
            'mutualTls must be false when no node has a TLS listener (every hop and headListener are "plain"); got true',
        ],
        ["internalNetwork as a string", { internalNetwork: "false" as never }, 'internalNetwork must be true or false; got "false"'],
        [
            "an image with a newline",
            { image: "redis\nx" },
            'image must be a Docker image reference such as "registry.example.com/team/redis:7.0"; got "redis\\nx"',
        ],
    ])("ReplicationChain: %s", (_what, args, message) => {
        expect(errorOf(() => resolveChainArgs("ch", args)).message).toBe(message);
    });

    test.each([
        "~* &* +@all -@dangerous -@admin",
        "%R~cache:* %W~jobs:* resetchannels &events:* -@all +get +set +client|setname",
        "allkeys allchannels allcommands -flushall",
        "resetkeys ~app:* nocommands +@read",
    ])("accepts the ACL rules %j", rules => {
        expect(aclRules("appRules", rules)).toBe(rules);
        expect(() => resolveClusterArgs("rc", { antiAffinity: "soft", appRules: rules })).not.toThrow();
    });

    test("plain text across hosts when explicitly allowed", () => {
        expect(() =>
            resolveClusterArgs("rc", {
                tls: false,
                allowPlaintextAcrossHosts: true,
                hosts: [{ name: "a" }, { name: "b", dockerHost: "tcp://10.0.0.2:2375" }],
            }),
        ).not.toThrow();
    });

    test.each([...MAXMEMORY_POLICIES])("accepts maxmemoryPolicy %s", policy => {
        expect(() => resolveChainArgs("ch", { maxmemoryPolicy: policy })).not.toThrow();
    });
});

describe("resolveChainArgs: a chain that replicates over TLS only", () => {
    test("listens only on TLS at its head too, unless headListener says otherwise", () => {
        expect(resolveChainArgs("ch", { hops: ["tls", "tls"] }).map(n => [n.plainPort, n.tlsPort])).toEqual([
            [0, 6380],
            [0, 6380],
            [0, 6380],
        ]);
        expect(resolveChainArgs("ch", { hops: ["tls", "tls"], headListener: "plain" })[0]).toMatchObject({
            plainPort: 6379,
            tlsPort: 6380,
        });
        expect(resolveChainArgs("ch", {})[0]).toMatchObject({ plainPort: 6379, tlsPort: 0 });
    });
});
