// Per-deployment ACL users with generated passwords: admin (bootstrap, operations), replication
// (masteruser/masterauth) and the application's least-privilege user. The `default` user is off.
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as v from "../validate";
import { ADMIN_USER_RULES, APP_USER_RULES, renderAclFile, REPLICATION_USER_RULES } from "./conf";

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
        const appRules = v.aclRules("appRules", args.appRules ?? APP_USER_RULES);
        this.aclFile = pulumi.secret(pulumi.all([this.admin.password, this.replication.password, this.app.password])
            .apply(([a, r, p]) => renderAclFile([
                { name: "admin", password: a, rules: ADMIN_USER_RULES },
                { name: "replication", password: r, rules: REPLICATION_USER_RULES },
                { name: "app", password: p, rules: appRules },
            ])));
        this.registerOutputs({ aclFile: this.aclFile });
    }
}
