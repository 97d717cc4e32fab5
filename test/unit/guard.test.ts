// The guard's inputs: the target read from RedisCluster's outputs, and the command line's refusals (exit 2).
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { checkPrivate, defaultLease, main } from "../../components/guard/cli";
import { targetFromOutputs } from "../../components/guard";

const cluster = {
    nodes: [{ name: "c-m0", host: "local", ip: "172.30.0.10", port: 6379, busPort: 16379, role: "master", slots: [0, 16383] }],
    adminUser: { username: "admin", password: "pw" },
    tls: true,
    caCertPem: "CA",
    clientCertPem: "CERT",
    clientKeyPem: "KEY",
    appUser: { username: "app", password: "app-pw" },
};

describe("targetFromOutputs", () => {
    const expected = {
        nodes: [{ name: "c-m0", ip: "172.30.0.10", port: 6379, busPort: 16379, role: "master", slots: [0, 16383] }],
        auth: { username: "admin", password: "pw" },
        tls: { ca: "CA", cert: "CERT", key: "KEY" },
    };

    test("from the stack's outputs (under `cluster`) or the cluster output itself, placement dropped", () => {
        expect(targetFromOutputs({ cluster, chain: {} })).toEqual(expected);
        expect(targetFromOutputs(cluster)).toEqual(expected);
        expect(targetFromOutputs({ redis: cluster }, "redis")).toEqual(expected);
    });

    test("a plain-TCP cluster (tls: false) has no TLS material", () => {
        expect(targetFromOutputs({ cluster: { ...cluster, tls: false } }).tls).toBeUndefined();
    });

    test.each([
        ["nodes", { ...cluster, nodes: [] }],
        ["adminUser", { ...cluster, adminUser: undefined }],
        ["caCertPem", { ...cluster, caCertPem: undefined }],
    ])("no %s: an error naming it", (field, o) => {
        expect(() => targetFromOutputs({ cluster: o })).toThrow(new RegExp(`has no ${field}`));
    });
});

describe("command line", () => {
    let errors: string[];
    beforeEach(() => {
        errors = [];
        jest.spyOn(console, "error").mockImplementation((s: string) => {
            errors.push(s);
        });
    });
    afterEach(() => jest.restoreAllMocks());

    test.each<[string[], RegExp]>([
        [[], /no command given/],
        [["watch"], /unknown command "watch"/],
        [["guard", "--once"], /exactly one of --stack or --outputs/],
        [["guard", "--stack", "dev", "--outputs", "o.json"], /exactly one of --stack or --outputs/],
        [["guard", "--outputs", "o.json", "--interval", "soon"], /--interval must be a number of seconds above 0, got "soon"/],
        [["guard", "--outputs", "o.json", "--bogus"], /Unknown option '--bogus'/],
    ])("%j exits 2 saying why, with the usage", async (argv, why) => {
        expect(await main(argv)).toBe(2);
        expect(errors.join("\n")).toMatch(why);
        expect(errors.join("\n")).toContain("usage: redis-secure-topologies guard");
    });
});

describe("defaultLease", () => {
    test.each([
        ["file:///var/state", "/var/state/guard-dev.lease"],
        ["file://~/state?no_checkpoint=true", path.join(os.homedir(), "state/guard-dev.lease")],
    ])("beside a file backend (%s), where every guard of the stack finds it", (backend, lease) => {
        expect(defaultLease("dev", backend)).toEqual({ lease });
    });

    test.each(["https://api.pulumi.com", "s3://bucket/state"])("with %s: this machine's temp folder, and a warning saying so", backend => {
        const { lease, warning } = defaultLease("org/prod", backend);
        expect(lease).toBe(path.join(os.tmpdir(), "redis-secure-topologies-guard-org_prod.lease"));
        expect(warning).toContain(`is on this machine only (the backend ${backend} is not a folder)`);
        expect(warning).toContain("--lease <path> on a shared filesystem");
    });
});

describe("checkPrivate: --outputs holds the admin password and the client key", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rst-guard-"));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    test.each<[number, string]>([
        [0o644, "others (mode 0644)"],
        [0o640, "its group (mode 0640)"],
        [0o604, "others (mode 0604)"],
    ])("refuses a file of mode %o, readable by %s", (mode, by) => {
        const file = path.join(dir, `o-${mode.toString(8)}.json`);
        fs.writeFileSync(file, "{}", { mode });
        fs.chmodSync(file, mode); // whatever the umask
        expect(() => checkPrivate(file)).toThrow(`--outputs ${file} is readable by ${by}; it holds secrets: chmod 600 ${file}`);
    });
    test("takes a file of mode 0600", () => {
        const file = path.join(dir, "ok.json");
        fs.writeFileSync(file, "{}", { mode: 0o600 });
        expect(() => checkPrivate(file)).not.toThrow();
    });
});
