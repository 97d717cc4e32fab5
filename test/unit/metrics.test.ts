// The exporter's pure parts (components/metrics/plan.ts): its settings checked like the spiped listener, its command
// line (no secret in it), the per-target password file and the scrape URLs a topology exports.
import { exporterCommand, metricsOutput, metricsPlan, passwordFile, targetUri } from "../../components/metrics/plan";
import { METRICS_USER_RULES } from "../../components/redis/conf";

const defaults = { listenPort: 9121, subnet: "172.31.4.0/24" };
const nodes = [
    { name: "c-m0", ip: "10.0.0.10", port: 6379, tls: true },
    { name: "ch-a", ip: "10.1.0.10", port: 6379, tls: false },
];

describe("metricsPlan", () => {
    test("off unless asked; true takes the defaults: loopback, the topology's port and subnet", () => {
        expect(metricsPlan(undefined, defaults)).toBeUndefined();
        expect(metricsPlan(false, defaults)).toBeUndefined();
        expect(metricsPlan(true, defaults)).toEqual({ listenAddress: "127.0.0.1", listenPort: 9121, subnet: "172.31.4.0/24" });
        expect(metricsPlan({ listenPort: 9200, subnet: "172.25.0.0/24" }, defaults)).toEqual({
            listenAddress: "127.0.0.1",
            listenPort: 9200,
            subnet: "172.25.0.0/24",
        });
    });

    test("not published beyond loopback unless allowed (as the spiped listener); bad values name the field", () => {
        expect(() => metricsPlan({ listenAddress: "0.0.0.0" }, defaults)).toThrow(
            /metrics.listenAddress must be a loopback address \(127.x.x.x\) unless metrics.allowNonLoopbackListener is true/,
        );
        expect(metricsPlan({ listenAddress: "10.0.0.5", allowNonLoopbackListener: true }, defaults)?.listenAddress).toBe("10.0.0.5");
        expect(() => metricsPlan({ allowNonLoopbackListener: "yes" as unknown as boolean }, defaults)).toThrow(
            /metrics.allowNonLoopbackListener/,
        );
        expect(() => metricsPlan({ listenPort: 70000 }, defaults)).toThrow(/metrics.listenPort/);
        expect(() => metricsPlan({ subnet: "172.31.4.0/33" }, defaults)).toThrow(/metrics.subnet/);
        expect(() => metricsPlan({ listenAddress: "127.0.0.1\nx" }, defaults)).toThrow(/metrics.listenAddress/);
        expect(() => metricsPlan("on" as unknown as boolean, defaults)).toThrow(/metrics must be true, false or/);
    });
});

describe("the exporter", () => {
    test("command line: TLS files and the password file, no password; CONFIG off; only Redis metrics", () => {
        expect(exporterCommand({ first: nodes[0], user: "metrics", tls: true, clientCert: true })).toEqual([
            "prometheus-redis-exporter",
            "-web.listen-address=:9121",
            "-redis.addr=rediss://10.0.0.10:6379",
            "-redis.user=metrics",
            "-redis.password-file=/etc/redis-exporter/passwords.json",
            "-tls-ca-cert-file=/etc/redis-exporter/ca.crt",
            "-tls-client-cert-file=/etc/redis-exporter/client.crt",
            "-tls-client-key-file=/etc/redis-exporter/client.key",
            "-config-command=-",
            "-redis-only-metrics",
        ]);
        expect(exporterCommand({ first: nodes[1], user: "metrics", tls: false, clientCert: false }).join(" ")).not.toMatch(/tls/);
        expect(() => exporterCommand({ first: nodes[0], user: "m x", tls: true, clientCert: false })).toThrow(/exporter user/);
    });

    test("password file: each target URI (rediss:// for TLS) to the password; scrape URLs per node", () => {
        expect(targetUri(nodes[0])).toBe("rediss://10.0.0.10:6379");
        expect(JSON.parse(passwordFile(nodes, "s3cret"))).toEqual({
            "rediss://10.0.0.10:6379": "s3cret",
            "redis://10.1.0.10:6379": "s3cret",
        });
        expect(metricsOutput({ listenAddress: "127.0.0.1", listenPort: 9121, subnet: "x" }, nodes)).toEqual({
            endpoint: "http://127.0.0.1:9121/metrics",
            scrapeUrls: {
                "c-m0": "http://127.0.0.1:9121/scrape?target=rediss%3A%2F%2F10.0.0.10%3A6379",
                "ch-a": "http://127.0.0.1:9121/scrape?target=redis%3A%2F%2F10.1.0.10%3A6379",
            },
        });
    });

    test("the metrics user: no key, no channel, no write; only the commands measured", () => {
        expect(METRICS_USER_RULES.split(" ")).toEqual([
            "resetkeys",
            "resetchannels",
            "-@all",
            "+info",
            "+cluster|info",
            "+slowlog|get",
            "+slowlog|len",
            "+latency|latest",
            "+client|setname",
        ]);
    });
});
