import { isIP } from "net";
import * as v from "../validate";

/** A leaf certificate's validity unless told (1 year). */
export const DEFAULT_CERT_VALIDITY_HOURS = 24 * 365;

export const CERT_USES = ["server", "client", "peer"] as const;
export type CertUse = (typeof CERT_USES)[number];

export function validateCertificate(a: {
    commonName: unknown;
    dnsNames?: unknown[];
    ipAddresses?: unknown[];
    use: unknown;
    validityHours: unknown;
    earlyRenewalHours?: unknown;
}): void {
    if (typeof a.commonName !== "string" || a.commonName.length === 0 || a.commonName.length > 64) {
        v.fail("commonName", "a string of 1 to 64 characters", a.commonName);
    }
    v.oneOf("use", a.use, CERT_USES);
    const validity = v.validityHours("validityHours", a.validityHours);
    // Inside the renewal window from the start, a certificate would be reissued on every `pulumi up`.
    if (a.earlyRenewalHours !== undefined) v.intInRange("earlyRenewalHours", a.earlyRenewalHours, 0, validity - 1);
    (a.ipAddresses ?? []).forEach((ip, i) => {
        if (typeof ip !== "string" || isIP(ip) === 0) v.fail(`ipAddresses[${i}]`, "an IPv4 or IPv6 address", ip);
    });
    (a.dnsNames ?? []).forEach((d, i) => {
        if (
            typeof d !== "string" ||
            !/^(\*|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(d)
        ) {
            v.fail(`dnsNames[${i}]`, "a DNS name (dot-separated labels of letters, digits and '-')", d);
        }
    });
}

/** Key usages per role. Redis nodes are TLS clients too (replication, cluster bus), so "peer" has both. */
export function allowedUses(use: CertUse): string[] {
    const ext = { server: ["server_auth"], client: ["client_auth"], peer: ["server_auth", "client_auth"] }[use];
    return ["digital_signature", "key_encipherment", ...ext];
}

/** Renew 30 days before expiry, or halfway through for certificates that live less than two months. */
export function defaultEarlyRenewalHours(validityHours: number): number {
    return Math.min(24 * 30, Math.floor(validityHours / 2));
}

/** A topology's `certificates` (its node and client certificates), checked and defaulted as Certificate does, with
 *  the fields named under `field` ("certificates.earlyRenewalHours"). */
export function certificateLifetime(
    field: string,
    l: { validityHours?: unknown; earlyRenewalHours?: unknown } = {},
): { validityHours: number; earlyRenewalHours: number } {
    if (!l || typeof l !== "object") v.fail(field, "{ validityHours?, earlyRenewalHours? }", l);
    const validityHours = v.validityHours(`${field}.validityHours`, l.validityHours ?? DEFAULT_CERT_VALIDITY_HOURS);
    const earlyRenewalHours = v.intInRange(
        `${field}.earlyRenewalHours`,
        l.earlyRenewalHours ?? defaultEarlyRenewalHours(validityHours),
        0,
        validityHours - 1,
    );
    return { validityHours, earlyRenewalHours };
}

/** A topology's CA rotation input: raise `generation` by one to rotate; the previous CA stays trusted `graceHours`
 *  after it (default 0: until the next `pulumi up`). */
export interface CaRotation {
    generation?: number;
    graceHours?: number;
}

/** What an unset field of CaRotation means: generation 0, and the old CA dropped on the next `pulumi up`. */
export const CA_ROTATION_DEFAULTS = Object.freeze({ generation: 0, graceHours: 0 } as const);

export function caRotation(field: string, r: CaRotation | undefined = {}): Required<CaRotation> {
    if (!r || typeof r !== "object") v.fail(field, "{ generation?, graceHours? }", r);
    return {
        generation: v.intInRange(`${field}.generation`, r.generation ?? CA_ROTATION_DEFAULTS.generation, 0, 1_000_000),
        graceHours: v.intInRange(`${field}.graceHours`, r.graceHours ?? CA_ROTATION_DEFAULTS.graceHours, 0, 24 * 366),
    };
}
