// Per-deployment ACL users with generated passwords: admin (bootstrap, operations), replication
// (masteruser/masterauth), the application's least-privilege user and the metrics exporter's read-only one. The
// `default` user is off.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as v from "../validate";
import { ADMIN_USER_RULES, APP_USER_RULES, METRICS_USER_RULES, renderAclFile, REPLICATION_USER_RULES } from "./conf";

export interface RedisUsersArgs {
    /** ACL rules for the application user (default: every key, no @dangerous/@admin commands). */
    appRules?: string;
    /** Change this value to rotate every password on the next `pulumi up`. */
    rotation?: string;
}

export interface UserCredential { username: string; password: pulumi.Output<string> }

export class RedisUsers extends pulumi.ComponentResource {
    readonly admin: UserCredential;
    readonly replication: UserCredential;
    readonly app: UserCredential;
    /** The Prometheus exporter's: only the read-only commands it was measured to run (METRICS_USER_RULES). Always
     *  present, so turning a topology's exporter on or off leaves users.acl, and so every node, as it is. */
    readonly metrics: UserCredential;
    /** Secret: the users.acl file every node loads. */
    readonly aclFile: pulumi.Output<string>;

    constructor(name: string, args: RedisUsersArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        super("redis-secure-topologies:redis:Users", name, {}, opts);
        const password = (user: string) => new random.RandomPassword(`${name}-${user}`, {
            length: 32,
            special: false,
            keepers: { rotation: args.rotation ?? "" },
        }, { parent: this }).result;
        this.admin = { username: "admin", password: password("admin") };
        this.replication = { username: "replication", password: password("replication") };
        this.app = { username: "app", password: password("app") };
        this.metrics = { username: "metrics", password: password("metrics") };
        const appRules = v.aclRules("appRules", args.appRules ?? APP_USER_RULES);
        this.aclFile = pulumi.secret(pulumi.all([this.admin.password, this.replication.password, this.app.password, this.metrics.password])
            .apply(([a, r, p, m]) => renderAclFile([
                { name: "admin", password: a, rules: ADMIN_USER_RULES },
                { name: "replication", password: r, rules: REPLICATION_USER_RULES },
                { name: "app", password: p, rules: appRules },
                { name: "metrics", password: m, rules: METRICS_USER_RULES },
            ])));
        this.registerOutputs({ aclFile: this.aclFile });
    }
}
