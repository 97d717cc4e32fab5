// Small pure checks shared by every component's validation. Messages name the field and what is allowed,
// so a bad stack config fails at preview with a sentence the user can act on.
import { RunError } from "@pulumi/pulumi";

/** What a ValidationError says: the field, what it allows, and either the value it got or a sentence about it. */
export interface Invalid {
    /** The field as the component names it (e.g. "hosts[1].subnet"). */
    field: string;
    /** What the field must be ("an integer from 1 to 16"). */
    allowed: string;
    /** The value it got (shown as JSON), unless `detail` says what went wrong instead. */
    got?: unknown;
    /** Said after `allowed` instead of the value ("host \"h1\" at ssh://h1 did not answer ..."). */
    detail?: string;
    /** How the message names the field, when a caller names its own setting (a stack config key); default `field`. */
    label?: string;
}

/**
 * A RunError, so Pulumi prints just the message (no stack trace) when a program stops on it. It carries its parts
 * as data (`field`, `allowed`, `got`), so a caller can name its own setting with `relabel` instead of editing text.
 */
export class ValidationError extends RunError {
    readonly field: string;
    readonly allowed: string;
    readonly got: unknown;
    readonly detail?: string;
    readonly label: string;
    constructor(e: Invalid) {
        const label = e.label ?? e.field;
        super(`${label} must be ${e.allowed}; ${e.detail ?? `got ${JSON.stringify(e.got)}`}`);
        this.field = e.field;
        this.allowed = e.allowed;
        this.got = e.got;
        this.detail = e.detail;
        this.label = label;
    }

    /** The same error, its message naming the field as `label`. */
    relabel(label: string): ValidationError {
        return new ValidationError({ field: this.field, allowed: this.allowed, got: this.got, detail: this.detail, label });
    }
}

export function fail(field: string, allowed: string, got: unknown): never {
    throw new ValidationError({ field, allowed, got });
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

/** An IPv4 subnet from /16 to /24 in CIDR form, aligned on its block; returns it with its base address. */
export function subnet(field: string, v: unknown): { cidr: string; base: number; bits: number } {
    const m = typeof v === "string" ? /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(v) : null;
    const octets = m ? m.slice(1, 5).map(Number) : [];
    const bits = m ? Number(m[5]) : -1;
    const base = octets.reduce((a, o) => a * 256 + o, 0);
    if (!m || octets.some(o => o > 255) || bits < 16 || bits > 24 || base % 2 ** (32 - bits) !== 0) {
        fail(field, 'an IPv4 subnet from /16 to /24 in CIDR form, starting on its block (e.g. "172.30.0.0/24")', v);
    }
    return { cidr: v as string, base, bits };
}

/** Subnets that share one Docker engine must not overlap (Docker refuses the second network mid-deployment). */
export function disjointSubnets(subnets: { field: string; cidr: string }[]): void {
    const seen: { field: string; cidr: string; base: number; size: number }[] = [];
    for (const { field, cidr } of subnets) {
        const n = subnet(field, cidr);
        const size = 2 ** (32 - n.bits);
        const other = seen.find(o => n.base < o.base + o.size && o.base < n.base + size);
        if (other) fail(field, `a subnet that does not overlap ${other.field} (${other.cidr})`, cidr);
        seen.push({ field, cidr, base: n.base, size });
    }
}

/** A Docker engine address as the docker CLI and provider take it: unix://, tcp:// or ssh://. */
export function dockerHost(field: string, v: unknown): string {
    if (
        typeof v !== "string" ||
        !/^(unix:\/\/\/\S+|tcp:\/\/[A-Za-z0-9.-]+:\d{1,5}|ssh:\/\/([A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+(:\d{1,5})?)$/.test(v)
    ) {
        fail(field, "a Docker engine address: unix:///path/docker.sock, tcp://host:port or ssh://[user@]host[:port]", v);
    }
    return v;
}

/** How many node addresses a subnet offers from .10 up (the first ten are left for Docker's gateway and friends). */
export function nodeRoom(s: { bits: number }): number {
    return 2 ** (32 - s.bits) - 12;
}

/** The address `n` places after the subnet's base, carrying across octets. */
export function addressIn(s: { base: number }, n: number): string {
    const a = s.base + n;
    return [24, 16, 8, 0].map(shift => Math.floor(a / 2 ** shift) % 256).join(".");
}

export const CERT_VALIDITY_HOURS = { min: 24, max: 24 * 365 * 10 };
export function validityHours(field: string, v: unknown): number {
    return intInRange(field, v, CERT_VALIDITY_HOURS.min, CERT_VALIDITY_HOURS.max);
}

/** A Redis memory size such as "100mb" or "1gb". */
export function memorySize(field: string, v: unknown): string {
    if (typeof v !== "string" || !/^[1-9][0-9]*(b|kb|mb|gb)?$/i.test(v)) fail(field, 'a size like "256mb" or "1gb"', v);
    return v as string;
}

export function flag(field: string, v: unknown): boolean {
    if (typeof v !== "boolean") fail(field, "true or false", v);
    return v;
}

/** An IPv4 address in dotted form. */
export function ipv4(field: string, v: unknown): string {
    const m = typeof v === "string" ? /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v) : null;
    if (!m || m.slice(1).some(o => Number(o) > 255 || (o.length > 1 && o.startsWith("0"))))
        fail(field, 'an IPv4 address such as "127.0.0.1"', v);
    return v as string;
}

/** A Docker image reference (repository[:tag][@digest]), as the engine takes it. */
/** A listener that would carry plain text off the machine is refused unless asked: loopback (127.x) only, unless `allowField` is true. */
export function loopbackListener(field: string, address: string, allowField: string, allowed: boolean): void {
    if (!address.startsWith("127.") && !allowed) fail(field, `a loopback address (127.x.x.x) unless ${allowField} is true`, address);
}

export function imageRef(field: string, v: unknown): string {
    if (
        typeof v !== "string" ||
        !/^[a-z0-9][a-z0-9._/-]*(:[0-9]{1,5}\/[a-z0-9._/-]+)?(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/.test(v)
    ) {
        fail(field, 'a Docker image reference such as "registry.example.com/team/redis:7.0"', v);
    }
    return v as string;
}

/** Redis's eviction policies (maxmemory-policy). */
export const MAXMEMORY_POLICIES = [
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
] as const;

export function maxmemoryPolicy(field: string, v: unknown): string {
    return oneOf(field, v, MAXMEMORY_POLICIES);
}

/**
 * ACL rules for a user whose password and state the component manages: key (~, %R~, %W~, %RW~, allkeys,
 * resetkeys), channel (&, allchannels, resetchannels) and command (+cmd, -cmd, +cmd|sub, +@category, allcommands,
 * nocommands) rules, separated by single spaces. Anything else is refused: password rules (>, <, #, !, nopass,
 * resetpass), on/off, reset, selectors, and any character outside printable ASCII (a newline would start a new
 * users.acl line, i.e. a new user).
 */
const ACL_RULE =
    /^(~|%(R|W|RW)~|&)[\x21-\x7e]+$|^[+-]@?[A-Za-z][A-Za-z0-9_-]*(\|[A-Za-z0-9_-]+)?$|^(allkeys|resetkeys|allchannels|resetchannels|allcommands|nocommands)$/;

export function aclRules(field: string, v: unknown): string {
    const allowed =
        "ACL key, channel and command rules separated by spaces (~pattern, %R~pattern, &channel, +command, " +
        "-@category, allkeys, ...), without password, on/off, reset or selector rules";
    if (typeof v !== "string" || v.trim() === "") fail(field, allowed, v);
    for (const rule of v.split(" ").filter(r => r !== "")) if (!ACL_RULE.test(rule)) fail(field, allowed, rule);
    return v;
}
