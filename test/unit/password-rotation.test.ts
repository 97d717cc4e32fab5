// Password rotation's pure decisions (components/redis/rotation-plan.ts) and its inputs' checks: which hashes each
// user has live through a rotation, when the old one goes, what each node gets, and the preview-time messages.
import { adminLogins, nextLive, nodesToChange, passwordChanges, retireDue, rotationTimes } from "../../components/redis/rotation-plan";
import { passwordHash, renderAclFile, renderMasterauthConf } from "../../components/redis/conf";
import { checkGraceSeconds, checkPasswordRotation } from "../../components/redis/users";
import { resolveChainArgs } from "../../components/replication";
import { resolveClusterArgs } from "../../components/cluster";

const [A, B, C] = ["a", "b", "c"].map(x => x.repeat(64));
const never = () => false;
const always = () => true;

describe("nextLive: each user's live hashes, the current one first", () => {
    test("the first deployment: the wanted password only", () => {
        expect(nextLive(undefined, { app: A, admin: B }, never)).toEqual({ app: [A], admin: [B] });
    });
    test("a rotation adds the new password before the old one, which stays", () => {
        expect(nextLive({ app: [A], admin: [B] }, { app: C, admin: B }, always)).toEqual({ app: [C, A], admin: [B] });
    });
    test("the old password goes once it is due, and stays while it is not", () => {
        expect(nextLive({ app: [C, A] }, { app: C }, always)).toEqual({ app: [C] });
        expect(nextLive({ app: [C, A] }, { app: C }, never)).toEqual({ app: [C, A] });
    });
    test("a second rotation before the first one's old password went: at most two, the oldest goes at once", () => {
        expect(nextLive({ app: [B, A] }, { app: C }, never)).toEqual({ app: [C, B] });
    });
    test("rotating back to the old password makes it current again", () => {
        expect(nextLive({ app: [B, A] }, { app: A }, never)).toEqual({ app: [A, B] });
    });
});

describe("rotationTimes and retireDue: the grace period", () => {
    test("a rotation starts now; its time is kept until the old password goes", () => {
        const t = rotationTimes({ app: [A] }, { app: [C, A], admin: [B] }, {}, 1000);
        expect(t).toEqual({ app: 1000 });
        expect(rotationTimes({ app: [C, A] }, { app: [C, A] }, t, 5000)).toEqual({ app: 1000 });
        expect(rotationTimes({ app: [C, A] }, { app: [C] }, t, 5000)).toEqual({});
        // A new rotation during the grace period starts its own.
        expect(rotationTimes({ app: [C, A] }, { app: [B, C] }, t, 7000)).toEqual({ app: 7000 });
    });
    test("due at the first up at least graceSeconds after the rotation; never without an old password", () => {
        const live = { app: [C, A], admin: [B] };
        expect(retireDue(live, { app: 1000 }, "app", 0, 1000)).toBe(true);
        expect(retireDue(live, { app: 1000 }, "app", 60, 60_999)).toBe(false);
        expect(retireDue(live, { app: 1000 }, "app", 60, 61_000)).toBe(true);
        expect(retireDue(live, { app: 1000 }, "admin", 0, 1e12)).toBe(false);
        expect(retireDue(undefined, undefined, "app", 0, 1e12)).toBe(false);
    });
});

describe("passwordChanges, nodesToChange, adminLogins", () => {
    test("what a node lacks is added; what it has beyond the target is removed; nothing when it matches", () => {
        expect(passwordChanges([A], [C, A])).toEqual({ add: [C], remove: [] });
        expect(passwordChanges([C, A], [C])).toEqual({ add: [], remove: [A] });
        expect(passwordChanges([A, C], [C, A])).toEqual({ add: [], remove: [] });
        // A node that missed the last step (a failed update) gets the whole difference.
        expect(passwordChanges([A], [C])).toEqual({ add: [C], remove: [A] });
    });
    test("only nodes that were deployed and are still planned are changed live", () => {
        expect(
            nodesToChange(
                [{ name: "m0" }, { name: "m1" }],
                [
                    { name: "m1", x: 1 },
                    { name: "m2", x: 2 },
                ],
            ),
        ).toEqual([{ name: "m1", x: 1 }]);
        expect(nodesToChange(undefined, [{ name: "m0" }])).toEqual([]);
    });
    test("the deployed admin first while the wanted one is not live yet; then the other", () => {
        const a = { username: "admin", password: "new" };
        const b = { username: "admin", password: "old" };
        const h = (p: string) => `h-${p}`;
        expect(adminLogins(a, b, ["h-old"], h)).toEqual([b, a]);
        expect(adminLogins(a, b, ["h-new", "h-old"], h)).toEqual([a, b]);
        expect(adminLogins(a, b, undefined, h)).toEqual([b, a]);
        expect(adminLogins(a, { ...a }, ["h-new"], h)).toEqual([a]);
        expect(adminLogins(a, undefined, undefined, h)).toEqual([a]);
    });
});

describe("users.acl by hashes and the masterauth file", () => {
    test("Redis's hash of a password is its SHA-256 in hex; the file lists every live hash and no password", () => {
        expect(passwordHash("foobar")).toBe("c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2");
        expect(renderAclFile([{ name: "app", hashes: [C, A], rules: "~* +@all" }])).toBe(
            `user default off\nuser app on #${C} #${A} ~* +@all\n`,
        );
    });
    test.each<[string, object, string]>([
        ["neither password nor hashes", { name: "app", rules: "" }, `ACL user "app": give a password or its hashes`],
        ["both", { name: "app", password: "p".repeat(32), hashes: [A], rules: "" }, `ACL user "app": give a password or its hashes`],
        ["no hash", { name: "app", hashes: [], rules: "" }, "password hashes must be SHA-256 in lower-case hex, at least one"],
        [
            "a hash with a space",
            { name: "app", hashes: [`${A.slice(1)} `], rules: "" },
            "password hashes must be SHA-256 in lower-case hex",
        ],
    ])("refused: %s", (_, user, message) => {
        expect(() => renderAclFile([user as never])).toThrow(message);
    });
    test("masterauth file: one line; a short or spaced password is refused", () => {
        expect(renderMasterauthConf("r".repeat(32))).toBe(`masterauth ${"r".repeat(32)}\n`);
        expect(() => renderMasterauthConf("short")).toThrow(
            "masterauth: the replication password must be at least 16 characters without spaces",
        );
        expect(() => renderMasterauthConf(`${"r".repeat(20)}\ninclude /x`)).toThrow("without spaces");
    });
});

describe("passwordRotation and passwordGraceSeconds are checked at preview, naming the field", () => {
    test.each<[string, unknown, string]>([
        [
            "a string",
            "2026",
            `passwordRotation must be an object { app?, admin?, replication? } of strings (changing one rotates that user's password); got "2026"`,
        ],
        ["a list", ["app"], "passwordRotation must be an object"],
        [
            "an unknown user",
            { default: "1" },
            `passwordRotation.default must be one of the users "admin", "replication", "app", "metrics" (a key of passwordRotation); got "default"`,
        ],
        [
            "a number",
            { admin: 2 },
            `passwordRotation.admin must be a string (any value; changing it rotates the admin user's password); got 2`,
        ],
    ])("refused: %s", (_, r, message) => {
        expect(() => checkPasswordRotation("passwordRotation", r)).toThrow(message);
        expect(() => resolveClusterArgs("c", { antiAffinity: "soft", passwordRotation: r as never })).toThrow(message);
        expect(() => resolveChainArgs("c", { passwordRotation: r as never })).toThrow(message);
    });
    test.each([-1, 1.5, "60", 31_536_001])("grace period %p refused", s => {
        const message = `passwordGraceSeconds must be an integer from 0 to 31536000; got ${JSON.stringify(s)}`;
        expect(() => resolveClusterArgs("c", { antiAffinity: "soft", passwordGraceSeconds: s as never })).toThrow(message);
        expect(() => resolveChainArgs("c", { passwordGraceSeconds: s as never })).toThrow(message);
    });
    test("accepted: any strings per user, a grace period (default 0)", () => {
        expect(checkPasswordRotation("passwordRotation", { app: "2026-12", admin: "", replication: "r2" })).toEqual({
            app: "2026-12",
            admin: "",
            replication: "r2",
        });
        expect(checkGraceSeconds("passwordGraceSeconds", undefined)).toBe(0);
        expect(resolveClusterArgs("c", { antiAffinity: "soft", passwordGraceSeconds: 3600 }).passwordGraceSeconds).toBe(3600);
    });
});
