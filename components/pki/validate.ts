import * as v from "../validate";

export const CERT_USES = ["server", "client", "peer"] as const;
export type CertUse = typeof CERT_USES[number];

export function validateCertificate(a: { commonName: unknown; dnsNames?: unknown[]; ipAddresses?: unknown[]; use: unknown; validityHours: unknown }): void {
    if (typeof a.commonName !== "string" || a.commonName.length === 0 || a.commonName.length > 64) {
        v.fail("commonName", "a string of 1 to 64 characters", a.commonName);
    }
    v.oneOf("use", a.use, CERT_USES);
    v.validityHours("validityHours", a.validityHours);
    (a.ipAddresses ?? []).forEach((ip, i) => {
        if (typeof ip !== "string" || !/^(\d{1,3}\.){3}\d{1,3}$|^[0-9a-f:]+$/i.test(ip)) v.fail(`ipAddresses[${i}]`, "an IPv4 or IPv6 address", ip);
    });
    (a.dnsNames ?? []).forEach((d, i) => {
        if (typeof d !== "string" || !/^[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(d)) v.fail(`dnsNames[${i}]`, "a DNS name", d);
    });
}

/** Key usages per role. Redis nodes are TLS clients too (replication, cluster bus), so "peer" has both. */
export function allowedUses(use: CertUse): string[] {
    const ext = { server: ["server_auth"], client: ["client_auth"], peer: ["server_auth", "client_auth"] }[use];
    return ["digital_signature", "key_encipherment", ...ext];
}
