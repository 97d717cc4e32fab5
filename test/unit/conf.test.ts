// redis.conf and ACL rendering, and the parsers for what Redis answers (CLUSTER NODES, INFO).
import { rangesOf } from "../../components/cluster/slots";
import {
    ADMIN_USER_RULES,
    APP_USER_RULES,
    crashRestartDelayMs,
    memoryLimitMb,
    renderAclFile,
    renderRedisConf,
    renderStartScript,
    REPLICATION_USER_RULES,
} from "../../components/redis/conf";
import { parseClusterNodes, parseInfo } from "../../components/redis/wire";

const lines = (conf: string) => conf.trimEnd().split("\n");

describe("renderRedisConf", () => {
    const clusterNode = (mutual: boolean) =>
        renderRedisConf({
            port: 0,
            tls: { port: 6379, mutual },
            cluster: { announceIp: "172.30.0.10", announcePort: 6379, announceBusPort: 16379, nodeTimeoutMs: 5000 },
            replicationUser: { name: "replication", password: "r".repeat(32) },
            maxmemory: "256mb",
            maxmemoryPolicy: "allkeys-lru",
        });

    test("a TLS-only cluster node", () => {
        const conf = lines(clusterNode(true));
        expect(conf).toEqual(
            expect.arrayContaining([
                "bind 0.0.0.0",
                "protected-mode yes",
                "port 0",
                "tls-port 6379",
                "tls-cert-file /etc/redis-secure/tls/node.crt",
                "tls-key-file /etc/redis-secure/tls/node.key",
                "tls-ca-cert-file /etc/redis-secure/tls/ca.crt",
                "tls-client-cert-file /etc/redis-secure/tls/node.crt",
                "tls-client-key-file /etc/redis-secure/tls/node.key",
                "tls-auth-clients yes",
                'tls-protocols "TLSv1.2 TLSv1.3"',
                "cluster-enabled yes",
                "cluster-config-file /data/nodes.conf",
                "cluster-node-timeout 5000",
                "cluster-announce-ip 172.30.0.10",
                "cluster-announce-tls-port 6379",
                "cluster-announce-bus-port 16379",
                "tls-replication yes",
                "tls-cluster yes",
                "masteruser replication",
                `masterauth ${"r".repeat(32)}`,
                "repl-diskless-sync yes",
                "repl-diskless-sync-delay 0",
                "aclfile /etc/redis-secure/users.acl",
                "maxmemory 256mb",
                "maxmemory-policy allkeys-lru",
            ]),
        );
        // TLS-only: no plain listener announced, no plain port anywhere.
        expect(conf).not.toContain("cluster-announce-port 6379");
        expect(conf.filter(l => l.startsWith("port "))).toEqual(["port 0"]);
        expect(conf.some(l => l.startsWith("replicaof"))).toBe(false);
    });

    test("mutual TLS off: tls-auth-clients no", () => {
        const conf = lines(clusterNode(false));
        expect(conf).toContain("tls-auth-clients no");
        expect(conf).not.toContain("tls-auth-clients yes");
    });

    test("a plain cluster node announces its plain port and has no TLS lines", () => {
        const conf = renderRedisConf({
            port: 6379,
            cluster: { announceIp: "10.0.0.10", announcePort: 6379, announceBusPort: 16379, nodeTimeoutMs: 5000 },
        });
        expect(lines(conf)).toContain("cluster-announce-port 6379");
        expect(conf).not.toMatch(/^tls-/m);
        expect(conf).not.toContain("cluster-announce-tls-port");
    });

    test("a plain replica: replicaof ip port, no tls-replication", () => {
        const conf = renderRedisConf({
            port: 6379,
            replicaOf: { host: "172.31.0.10", port: 6379, tls: false },
            replicationUser: { name: "replication", password: "p".repeat(32) },
        });
        expect(lines(conf)).toEqual(expect.arrayContaining(["port 6379", "replicaof 172.31.0.10 6379", "masteruser replication"]));
        expect(conf).not.toContain("tls-replication");
        expect(conf).not.toContain("tls-port");
        expect(conf).not.toContain("cluster-enabled");
        expect(conf.endsWith("\n")).toBe(true);
    });

    test("a TLS-only replica replicates over TLS", () => {
        const conf = lines(
            renderRedisConf({ port: 0, tls: { port: 6380, mutual: false }, replicaOf: { host: "172.31.0.11", port: 6380, tls: true } }),
        );
        expect(conf).toEqual(expect.arrayContaining(["port 0", "tls-port 6380", "replicaof 172.31.0.11 6380", "tls-replication yes"]));
    });

    test("a master has no replication lines; appendonly defaults to everysec", () => {
        const conf = renderRedisConf({ port: 6379, appendonly: true });
        expect(conf).not.toMatch(/replicaof|masteruser|masterauth/);
        expect(lines(conf)).toEqual(expect.arrayContaining(["appendonly yes", "appendfsync everysec"]));
        expect(lines(renderRedisConf({ port: 6379, appendonly: true, appendfsync: "always" }))).toContain("appendfsync always");
        expect(renderRedisConf({ port: 6379 })).not.toContain("appendonly");
    });
});

describe("start script and crash wait", () => {
    test("a crashed master waits past the failover window: 2 x node timeout + 2 s", () => {
        expect(crashRestartDelayMs(3000)).toBe(8000);
        expect(crashRestartDelayMs(5000)).toBe(12000);
        // Never shorter than the detection (node timeout) plus the longest first election delay (1 s).
        for (const t of [500, 3000, 15000, 120000]) expect(crashRestartDelayMs(t)).toBeGreaterThan(t + 1000);
    });

    test("a cluster node: marker while redis-server runs, removed only on exit 0, wait only when a master left it behind", () => {
        const script = lines(renderStartScript({ crashRestartDelayMs: 8000 }));
        expect(script[0]).toBe("#!/bin/sh");
        const at = (l: string) => {
            const i = script.indexOf(l);
            expect(i).toBeGreaterThanOrEqual(0);
            return i;
        };
        const check = at("if [ -e /data/.redis-running ] && grep -qs 'myself,master' /data/nodes.conf; then");
        const sleep = at("  sleep 8.000 & wait $!");
        const touch = at("touch /data/.redis-running");
        const start = at("redis-server /etc/redis-secure/redis.conf & pid=$!");
        const forward = at("trap 'kill -TERM $pid' TERM INT");
        const remove = at("if [ $rc -eq 0 ]; then rm -f /data/.redis-running; fi");
        expect(check < sleep && sleep < touch && touch < start && start < forward && forward < remove).toBe(true);
        expect(script[script.length - 1]).toBe("exit $rc");
        // A stop while it waits ends it at once (no redis-server to save yet).
        expect(script.indexOf("trap 'exit 143' TERM INT")).toBeLessThan(check);
    });

    test("no crash wait (chain, lock quorum): the same marker and signal handling, no sleep", () => {
        const script = renderStartScript({ crashRestartDelayMs: 0 });
        expect(script).not.toMatch(/sleep|nodes\.conf/);
        expect(lines(script)).toEqual(
            expect.arrayContaining(["touch /data/.redis-running", "trap 'kill -TERM $pid' TERM INT", "exit $rc"]),
        );
    });
});

describe("renderAclFile", () => {
    test("default off first, then one line per user with its password and rules", () => {
        const acl = renderAclFile([
            { name: "admin", password: "a".repeat(32), rules: ADMIN_USER_RULES },
            { name: "replication", password: "r".repeat(32), rules: REPLICATION_USER_RULES },
            { name: "app", password: "p".repeat(32), rules: APP_USER_RULES },
        ]);
        expect(acl.startsWith("user default off\n")).toBe(true);
        expect(lines(acl)).toEqual([
            "user default off",
            `user admin on >${"a".repeat(32)} ~* &* +@all`,
            `user replication on >${"r".repeat(32)} +psync +replconf +ping`,
            `user app on >${"p".repeat(32)} ~* resetchannels +@all -@dangerous -@admin`,
        ]);
    });

    test("no users: only the disabled default user", () => {
        expect(renderAclFile([])).toBe("user default off\n");
    });
});

describe("parseClusterNodes", () => {
    // CLUSTER NODES of a 3 x 1 cluster (Redis 7 format), as seen from the first master, with slot 5461 migrating.
    const text = [
        "07c37dfeb235213a872192d90877d0cd55635b91 172.30.0.13:6379@16379,rc-m0-r0 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1700000000000 4 connected",
        "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 172.30.0.11:6379@16379,rc-m1 master - 0 1700000000426 2 connected 5462-10922 [5461-<-e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca]",
        "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 172.30.0.10:6379@16379,rc-m0 myself,master - 0 1700000000000 1 connected 0-5460 [5461->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]",
        "292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 172.30.0.12:6379@16379 master,fail - 1700000000100 1700000000050 3 disconnected 10923-16382 16383",
        "",
    ].join("\n");

    test("ids, addresses, flags, masters and link state", () => {
        const nodes = parseClusterNodes(text);
        expect(nodes.map(n => [n.id.slice(0, 8), n.ip, n.port, n.flags, n.masterId?.slice(0, 8), n.connected])).toEqual([
            ["07c37dfe", "172.30.0.13", 6379, ["slave"], "e7d1eecc", true],
            ["67ed2db8", "172.30.0.11", 6379, ["master"], undefined, true],
            ["e7d1eecc", "172.30.0.10", 6379, ["myself", "master"], undefined, true],
            ["292f8b36", "172.30.0.12", 6379, ["master", "fail"], undefined, false],
        ]);
    });

    test("slot ranges, single slots and open slots", () => {
        const [replica, m1, me, m2] = parseClusterNodes(text);
        expect(replica.slots).toEqual([]);
        expect(replica.openSlots).toEqual([]);
        expect(me.slots).toEqual([[0, 5460]]);
        expect(me.openSlots).toEqual([{ slot: 5461, migratingTo: "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1" }]);
        expect(m1.slots).toEqual([[5462, 10922]]);
        expect(m1.openSlots).toEqual([{ slot: 5461, importingFrom: "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca" }]);
        expect(m2.slots).toEqual([
            [10923, 16382],
            [16383, 16383],
        ]);
    });

    test("an open-slot field it cannot read is an error, not a slot", () => {
        expect(() => parseClusterNodes("aaaa 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-10 [11-?-bbbb]\n")).toThrow(
            /cannot read slot field \[11-\?-bbbb\]/,
        );
    });

    test("addresses without a hostname, CRLF line ends, and IPv6", () => {
        const nodes = parseClusterNodes(
            "aaaa 10.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-16383\r\n" + "bbbb ::1:7001@17001 slave aaaa 0 0 1 connected\r\n",
        );
        expect(nodes.map(n => [n.id, n.ip, n.port, n.masterId, n.connected, n.slots])).toEqual([
            ["aaaa", "10.0.0.1", 7000, undefined, true, [[0, 16383]]],
            ["bbbb", "::1", 7001, "aaaa", true, []],
        ]);
    });

    test("a fresh node that knows only itself", () => {
        expect(parseClusterNodes("cccc :6379@16379 myself,master - 0 0 0 connected\n")).toEqual([
            { id: "cccc", ip: "", port: 6379, flags: ["myself", "master"], masterId: undefined, connected: true, slots: [], openSlots: [] },
        ]);
    });
});

describe("parseInfo", () => {
    test("sections, CRLF, values with colons", () => {
        const info = parseInfo(
            [
                "# Replication",
                "role:slave",
                "master_host:172.31.0.11",
                "master_port:6380",
                "master_link_status:up",
                "slave0:ip=172.31.0.12,port=6380,state=online,offset=42,lag=0",
                "",
                "# Cluster",
                "cluster_enabled:0",
                "",
            ].join("\r\n"),
        );
        expect(info).toEqual({
            role: "slave",
            master_host: "172.31.0.11",
            master_port: "6380",
            master_link_status: "up",
            slave0: "ip=172.31.0.12,port=6380,state=online,offset=42,lag=0",
            cluster_enabled: "0",
        });
    });

    test("CLUSTER INFO keeps everything after the first colon", () => {
        expect(parseInfo("cluster_state:ok\ncluster_slots_assigned:16384\nweird:a:b\n")).toEqual({
            cluster_state: "ok",
            cluster_slots_assigned: "16384",
            weird: "a:b",
        });
    });
});

describe("rangesOf", () => {
    test.each<[string, [number, number], (s: number) => boolean, [number, number][]]>([
        ["everything kept", [0, 5460], () => true, [[0, 5460]]],
        ["nothing kept", [0, 5460], () => false, []],
        [
            "a hole in the middle",
            [0, 10],
            s => s < 3 || s > 6,
            [
                [0, 2],
                [7, 10],
            ],
        ],
        [
            "single slots",
            [5, 9],
            s => s % 2 === 1,
            [
                [5, 5],
                [7, 7],
                [9, 9],
            ],
        ],
        ["a one-slot range", [16383, 16383], () => true, [[16383, 16383]]],
        ["only the tail", [10923, 16383], s => s >= 16000, [[16000, 16383]]],
    ])("%s", (_what, range, keep, expected) => {
        expect(rangesOf(range, keep)).toEqual(expected);
    });
});

describe("memoryLimitMb: the container limit for a node with maxmemory", () => {
    test.each<[string | undefined, number | undefined]>([
        [undefined, undefined],
        ["256mb", 640],
        ["1gb", 2176],
        ["4GB", 8320],
        ["512kb", 129],
        ["1048576", 130],
    ])("%s -> %s MB (twice maxmemory for a fork's copy-on-write, plus 128 MB)", (maxmemory, mb) => {
        expect(memoryLimitMb(maxmemory)).toBe(mb);
    });
});
