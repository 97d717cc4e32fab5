// Small pure checks shared by every component's validation. Messages name the field and what is allowed,
// so a bad stack config fails at preview with a sentence the user can act on.

export class ValidationError extends Error {}

export function fail(field: string, allowed: string, got: unknown): never {
    throw new ValidationError(`${field} must be ${allowed}; got ${JSON.stringify(got)}`);
}

export function intInRange(field: string, v: unknown, min: number, max: number): number {
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) fail(field, `an integer from ${min} to ${max}`, v);
    return v;
}

export function port(field: string, v: unknown): number {
    return intInRange(field, v, 1, 65535);
}

export function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[]): T {
    if (typeof v !== "string" || !allowed.includes(v as T)) fail(field, `one of ${allowed.map(a => `"${a}"`).join(", ")}`, v);
    return v as T;
}

export function distinctPorts(field: string, ports: number[]): void {
    const seen = new Set<number>();
    for (const p of ports) {
        if (seen.has(p)) fail(field, "distinct ports", ports);
        seen.add(p);
    }
}

/** A Docker resource name part: lower-case letters, digits and dashes. */
export function dnsLabel(field: string, v: unknown): string {
    if (typeof v !== "string" || !/^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$/.test(v)) {
        fail(field, "lower-case letters, digits and '-' (1-42 characters, no leading or trailing '-')", v);
    }
    return v;
}

/** An IPv4 /24 (or wider, down to /16) subnet in CIDR form; returns the address prefix used for static IPs. */
export function subnet(field: string, v: unknown): { cidr: string; base: number[] } {
    const m = typeof v === "string" ? /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(v) : null;
    const octets = m ? m.slice(1, 5).map(Number) : [];
    const bits = m ? Number(m[5]) : -1;
    if (!m || octets.some(o => o > 255) || bits < 16 || bits > 24 || octets[3] !== 0) {
        fail(field, "an IPv4 subnet in CIDR form from /16 to /24 ending in .0, e.g. \"172.30.0.0/24\"", v);
    }
    return { cidr: v as string, base: octets };
}

/** The address of host number `n` (>= 2) inside a subnet. */
export function addressIn(s: { base: number[] }, n: number): string {
    return `${s.base[0]}.${s.base[1]}.${s.base[2]}.${s.base[3] + n}`;
}

export const CERT_VALIDITY_HOURS = { min: 24, max: 24 * 365 * 10 };
export function validityHours(field: string, v: unknown): number {
    return intInRange(field, v, CERT_VALIDITY_HOURS.min, CERT_VALIDITY_HOURS.max);
}

/** A Redis memory size such as "100mb" or "1gb". */
export function memorySize(field: string, v: unknown): string {
    if (typeof v !== "string" || !/^[1-9][0-9]*(b|kb|mb|gb)?$/i.test(v)) fail(field, "a size like \"256mb\" or \"1gb\"", v);
    return v as string;
}
