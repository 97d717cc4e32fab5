// scripts/facts.env is the one source of the facts the shell scripts and the tests share: both sides read the same values.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { BENCH_LOCK_NAME, cacheRoot, parseFacts, TEST_HOSTS_RUN, TEST_LABEL, testHostEngine } from "../../scripts/facts";

const SCRIPTS = path.join(__dirname, "../../scripts");
/** `$name` after the shell sources `file` (in scripts/), in `env`. */
const shell = (file: string, name: string, env: Record<string, string> = {}) =>
    execFileSync("bash", ["-c", `. "$1" && printf %s "$${name}"`, "test", path.join(SCRIPTS, file)], {
        encoding: "utf8",
        env: { ...process.env, ...env },
    });

describe("scripts/facts.env", () => {
    test("the shell sourcing it and scripts/facts.ts read the same values", () => {
        expect([TEST_HOSTS_RUN, TEST_LABEL, BENCH_LOCK_NAME]).toEqual(
            ["TEST_HOSTS_RUN", "TEST_LABEL", "BENCH_LOCK_NAME"].map(k => shell("facts.env", k)),
        );
        expect(testHostEngine("h2")).toBe(`unix://${shell("facts.env", "TEST_HOSTS_RUN")}/h2.sock`);
        expect(shell("lib.sh", "TEST_LABEL")).toBe(TEST_LABEL);
    });

    test("parseFacts reads KEY=value lines and refuses anything a shell would read differently", () => {
        expect(parseFacts("# c\n\nA=1\nB_2=/x/y\n")).toEqual({ A: "1", B_2: "/x/y" });
        expect(() => parseFacts("A=two words")).toThrow('scripts/facts.env: cannot read "A=two words" (KEY=value, no spaces)');
        expect(() => parseFacts('A="q" x')).toThrow(/cannot read/);
    });

    test("the cache root is scripts/lib.sh's: RST_CACHE, else $XDG_CACHE_HOME or ~/.cache with the project's folder", () => {
        expect(cacheRoot()).toBe(shell("lib.sh", "CACHE_ROOT"));
        const tmp = fs.mkdtempSync("/tmp/rst-facts-");
        try {
            expect(shell("lib.sh", "CACHE_ROOT", { RST_CACHE: `${tmp}/c` })).toBe(`${tmp}/c`);
            expect(shell("lib.sh", "CACHE_ROOT", { RST_CACHE: "", XDG_CACHE_HOME: tmp })).toBe(`${tmp}/redis-secure-topologies`);
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });
});
