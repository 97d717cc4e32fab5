// The facts scripts/facts.env writes once for the shell scripts and for the tests and the benchmark, and the cache
// folder as scripts/lib.sh computes it (so the rule RST_CACHE > $XDG_CACHE_HOME > ~/.cache lives in one place).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** KEY=value lines of an env file the shell sources; blank lines and # comments skipped. */
export function parseFacts(text: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const line of text.split("\n").map(l => l.trim())) {
        if (!line || line.startsWith("#")) continue;
        const m = /^([A-Z_][A-Z0-9_]*)=(\S*)$/.exec(line);
        if (!m) throw new Error(`scripts/facts.env: cannot read ${JSON.stringify(line)} (KEY=value, no spaces)`);
        out[m[1]] = m[2];
    }
    return out;
}

const FACTS = parseFacts(fs.readFileSync(path.join(__dirname, "facts.env"), "utf8"));

function fact(key: string): string {
    const v = FACTS[key];
    if (v === undefined) throw new Error(`scripts/facts.env has no ${key}`);
    return v;
}

/** The folder of the test hosts' engine sockets. */
export const TEST_HOSTS_RUN = fact("TEST_HOSTS_RUN");
/** The label key on everything a test creates. */
export const TEST_LABEL = fact("TEST_LABEL");
/** The benchmark's lock file name, in the temp folder. */
export const BENCH_LOCK_NAME = fact("BENCH_LOCK_NAME");

/** The engine of test host `hN` started by scripts/test-hosts.sh. */
export function testHostEngine(name: string): string {
    return `unix://${TEST_HOSTS_RUN}/${name}.sock`;
}

let cache: string | undefined;
/** The cache root (toolchain, image tarball, state, passphrase), as scripts/lib.sh computes it for this environment. */
export function cacheRoot(): string {
    cache ??= execFileSync("bash", ["-c", '. "$1" && printf %s "$CACHE_ROOT"', "facts", path.join(__dirname, "lib.sh")], {
        encoding: "utf8",
    });
    return cache;
}
