// Per-deployment ACL users with generated passwords: admin (bootstrap, operations), replication
// (masteruser/masterauth), the application's least-privilege user and the metrics exporter's read-only one. The
// `default` user is off.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as v from "../validate";
import { ADMIN_USER_RULES, APP_USER_RULES, METRICS_USER_RULES, passwordHash, renderAclFile, REPLICATION_USER_RULES } from "./conf";

/** The users every component makes, in users.acl order. */
export const USER_NAMES = ["admin", "replication", "app", "metrics"] as const;
export type UserName = (typeof USER_NAMES)[number];

/**
 * Per user, a value that rotates that user's password when it changes (a `keepers` entry of its RandomPassword, the
 * usual Pulumi way to ask for a new random value): e.g. `{ app: "2026-12" }`. Setting a value the first time, changing
 * it or removing it each rotate. RedisCluster and ReplicationChain rotate live (PasswordRotation): both passwords
 * work until the next `pulumi up` (or the grace period) drops the old one.
 */
export interface UserPasswordRotation {
    app?: string;
    admin?: string;
    replication?: string;
    metrics?: string;
}

/** `passwordRotation` checked: an object with only app, admin, replication and metrics, each a string. */
export function checkPasswordRotation(field: string, r: unknown): UserPasswordRotation {
    if (r === undefined) return {};
    if (!r || typeof r !== "object" || Array.isArray(r))
        v.fail(field, "an object { app?, admin?, replication? } of strings (changing one rotates that user's password)", r);
    for (const [k, x] of Object.entries(r)) {
        if (!(USER_NAMES as readonly string[]).includes(k))
            v.fail(`${field}.${k}`, `one of the users ${USER_NAMES.map(u => `"${u}"`).join(", ")} (a key of ${field})`, k);
        if (typeof x !== "string") v.fail(`${field}.${k}`, `a string (any value; changing it rotates the ${k} user's password)`, x);
    }
    return r as UserPasswordRotation;
}

/** passwordGraceSeconds unset: the next `pulumi up` drops a rotated password's old value. */
export const DEFAULT_GRACE_SECONDS = 0;

/** How long the old password of a rotation keeps working: the first `pulumi up` at least this long after it drops it. */
export function checkGraceSeconds(field: string, s: unknown): number {
    return s === undefined ? DEFAULT_GRACE_SECONDS : v.intInRange(field, s, 0, 31_536_000);
}

export interface RedisUsersArgs {
    /** ACL rules for the application user (default: every key, no @dangerous/@admin commands). */
    appRules?: string;
    /** Change this value to rotate every password on the next `pulumi up`. */
    rotation?: string;
    /** Change a user's value to rotate that user's password (PasswordRotation). */
    passwordRotation?: UserPasswordRotation;
}

export interface UserCredential {
    username: string;
    password: pulumi.Output<string>;
}

export class RedisUsers extends pulumi.ComponentResource {
    readonly admin: UserCredential;
    /**
     * Secret: the admin user's name and password as one value, what the topologies' own clients log in with
     * (PasswordRotation, TlsReload, ClusterBootstrap).
     */
    readonly adminAuth: pulumi.Output<{ username: string; password: string }>;
    readonly replication: UserCredential;
    readonly app: UserCredential;
    /** The Prometheus exporter's: only the read-only commands it was measured to run (METRICS_USER_RULES). Always
     *  present, so turning a topology's exporter on or off leaves users.acl, and so every node, as it is. */
    readonly metrics: UserCredential;
    /** Secret: the users.acl file with each user's password in clear (LockQuorum's nodes load it). */
    readonly aclFile: pulumi.Output<string>;
    /**
     * The SHA-256 of each user's current password, what Redis keeps of it (plain: it reveals nothing of a 32-character
     * random password).
     */
    readonly hashes: pulumi.Output<Record<UserName, string>>;
    /** Each user's ACL rules (without passwords). */
    readonly rules: Record<UserName, string>;

    constructor(name: string, args: RedisUsersArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        super("redis-secure-topologies:redis:Users", name, {}, opts);
        const rotation = checkPasswordRotation("passwordRotation", args.passwordRotation);
        // A user's own key only when it is set, so stacks that never rotated keep their passwords.
        const password = (user: UserName) =>
            new random.RandomPassword(
                `${name}-${user}`,
                {
                    length: 32,
                    special: false,
                    keepers: {
                        rotation: args.rotation ?? "",
                        ...(rotation[user] !== undefined ? { passwordRotation: rotation[user]! } : {}),
                    },
                },
                { parent: this },
            ).result;
        this.admin = { username: "admin", password: password("admin") };
        this.adminAuth = pulumi.secret(this.admin.password.apply(p => ({ username: this.admin.username, password: p })));
        this.replication = { username: "replication", password: password("replication") };
        this.app = { username: "app", password: password("app") };
        this.metrics = { username: "metrics", password: password("metrics") };
        this.rules = {
            admin: ADMIN_USER_RULES,
            replication: REPLICATION_USER_RULES,
            app: v.aclRules("appRules", args.appRules ?? APP_USER_RULES),
            metrics: METRICS_USER_RULES,
        };
        const passwords = pulumi.all(USER_NAMES.map(u => this[u].password));
        this.aclFile = pulumi.secret(
            passwords.apply(ps => renderAclFile(USER_NAMES.map((u, i) => ({ name: u, password: ps[i], rules: this.rules[u] })))),
        );
        this.hashes = pulumi.unsecret(
            passwords.apply(ps => Object.fromEntries(USER_NAMES.map((u, i) => [u, passwordHash(ps[i])])) as Record<UserName, string>),
        );
        this.registerOutputs({ aclFile: this.aclFile, hashes: this.hashes });
    }

    /** users.acl with each user's `live` password hashes (PasswordRotation's `live`): no password in it. */
    aclFileFor(live: pulumi.Input<Record<string, string[]>>): pulumi.Output<string> {
        return pulumi.output(live).apply(l => renderAclFile(USER_NAMES.map(u => ({ name: u, hashes: l[u], rules: this.rules[u] }))));
    }

    /** The users and their rules as users.acl lists them, passwords left out: a change of rules restarts the nodes. */
    get aclRules(): string {
        return USER_NAMES.map(u => `user ${u} on (passwords) ${this.rules[u]}`).join("\n");
    }
}
