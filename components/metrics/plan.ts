// The Prometheus exporter (Debian's prometheus-redis-exporter, oliver006/redis_exporter 1.45) as pure data: its
// checked settings, command line, per-target password file and the scrape URLs a topology exports.
import * as v from "../validate";

/** Where the exporter's files (password file, CA, client certificate) sit, on a read-only volume. */
export const EXPORTER_DIR = "/etc/redis-exporter";
export const PASSWORD_FILE = `${EXPORTER_DIR}/passwords.json`;
/** The Debian package's own unprivileged user (uid 101 in the image), owner of its files. */
export const EXPORTER_USER = "prometheus:prometheus";
/** The exporter's web port inside its container; published on `listenAddress:listenPort`. */
export const EXPORTER_PORT = 9121;

export interface MetricsArgs {
    /** Where Prometheus scrapes (default 127.0.0.1); non-loopback needs `allowNonLoopbackListener: true`. */
    listenAddress?: string;
    /** Host port (default 9121 for a RedisCluster, 9122 for a ReplicationChain). */
    listenPort?: number;
    allowNonLoopbackListener?: boolean;
    /** The exporter's own (non-internal) network, whose bridge publishes its port (default per topology). */
    subnet?: string;
}

export interface MetricsPlan {
    listenAddress: string;
    listenPort: number;
    subnet: string;
}

/** The node an exporter scrapes: a TLS port when the node has one, else its plain port (a chain head may be plain only). */
export interface MetricsTarget {
    name: string;
    ip: string;
    port: number;
    tls: boolean;
}

/** What a topology exports for Prometheus: `/metrics` (the first node) and one multi-target scrape URL per node. */
export interface MetricsOutput {
    endpoint: string;
    scrapeUrls: Record<string, string>;
}

/** `metrics` checked as the spiped listener is (loopback unless allowed), with the topology's defaults; field names `metrics.*`. */
export function metricsPlan(
    args: MetricsArgs | boolean | undefined,
    defaults: { listenPort: number; subnet: string },
): MetricsPlan | undefined {
    if (args === undefined || args === false) return undefined;
    if (args !== true && (typeof args !== "object" || args === null || Array.isArray(args))) {
        v.fail("metrics", "true, false or { listenAddress?, listenPort?, allowNonLoopbackListener?, subnet? }", args);
    }
    const a: MetricsArgs = args === true ? {} : args;
    const listenAddress = v.ipv4("metrics.listenAddress", a.listenAddress ?? "127.0.0.1");
    const allowed = v.flag("metrics.allowNonLoopbackListener", a.allowNonLoopbackListener ?? false);
    v.loopbackListener("metrics.listenAddress", listenAddress, "metrics.allowNonLoopbackListener", allowed);
    return {
        listenAddress,
        listenPort: v.port("metrics.listenPort", a.listenPort ?? defaults.listenPort),
        subnet: v.subnet("metrics.subnet", a.subnet ?? defaults.subnet).cidr,
    };
}

export function targetUri(t: MetricsTarget): string {
    return `${t.tls ? "rediss" : "redis"}://${t.ip}:${t.port}`;
}

/** The exporter's command line: no secret in it (the password comes from PASSWORD_FILE, keyed by target URI). */
export function exporterCommand(o: { first: MetricsTarget; user: string; tls: boolean; clientCert: boolean }): string[] {
    if (!/^[A-Za-z0-9_-]+$/.test(o.user)) throw new Error(`exporter user "${o.user}" may use only letters, digits, _ and -`);
    return [
        "prometheus-redis-exporter",
        `-web.listen-address=:${EXPORTER_PORT}`,
        `-redis.addr=${targetUri(o.first)}`,
        `-redis.user=${o.user}`,
        `-redis.password-file=${PASSWORD_FILE}`,
        ...(o.tls ? [`-tls-ca-cert-file=${EXPORTER_DIR}/ca.crt`] : []),
        ...(o.clientCert ? [`-tls-client-cert-file=${EXPORTER_DIR}/client.crt`, `-tls-client-key-file=${EXPORTER_DIR}/client.key`] : []),
        // No CONFIG GET * (it returns masterauth; INFO has maxmemory), so the metrics user needs no CONFIG at all.
        "-config-command=-",
        // Its own Go runtime metrics are noise for a Redis dashboard.
        "-redis-only-metrics",
    ];
}

/** PASSWORD_FILE: every target's URI to the exporter user's password (the exporter looks a scrape's target up here). */
export function passwordFile(targets: MetricsTarget[], password: string): string {
    return JSON.stringify(Object.fromEntries(targets.map(t => [targetUri(t), password])));
}

export function metricsOutput(p: MetricsPlan, targets: MetricsTarget[]): MetricsOutput {
    const base = `http://${p.listenAddress}:${p.listenPort}`;
    return {
        endpoint: `${base}/metrics`,
        scrapeUrls: Object.fromEntries(targets.map(t => [t.name, `${base}/scrape?target=${encodeURIComponent(targetUri(t))}`])),
    };
}
