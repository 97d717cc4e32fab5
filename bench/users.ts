// The parts of `npm run bench` about what users wait for (issue #17): `pulumi up` from empty vs a docker run script,
// the plain CLI's no-change preview/up vs an empty program, failover, and cost growth. Each part renders its own
// section of results.md between markers, so `BENCH_ONLY=up,cli npm run bench` re-runs some parts and replaces only
// their sections (and the summary block) in the last full results.md.
import * as fs from "fs";
import * as os from "os";
import { Scope } from "../test/integration/harness";
import { benchGrowth, benchPreview, GrowthRow, PreviewBreakdown } from "./cli";
import { freeSubnets } from "./common";
import { benchFailover, FailoverRow } from "./failover";
import { benchUpVsDocker, Topology, UpRow } from "./updocker";

export const USER_PARTS = ["up", "cli", "failover", "growth"] as const;
export type UserPart = (typeof USER_PARTS)[number];

const TOPOLOGIES: Topology[] = ["chain", "tunnel", "cluster"];
const UP_REPS = 2;
const CLI_REPS = 2;
/** Redis's default cluster-node-timeout (RedisCluster's default too), and a tuned one. */
const NODE_TIMEOUTS = [5000, 2000];
/** BENCH_GROWTH=3,10 limits the sizes (a partial rerun). */
const GROWTH = (process.env.BENCH_GROWTH ?? "3,10,30").split(",").map(m => ({ masters: Number(m), reps: 1 }));
const TARGET = { upRatio: 1.2, previewS: 3, upS: 4 };

export interface UserResults {
    up?: UpRow[];
    cli?: PreviewBreakdown;
    failover?: FailoverRow[];
    growth?: GrowthRow[];
    errors: Partial<Record<UserPart, string>>;
    when: Partial<Record<UserPart, string>>;
}

type Part = <T>(what: string, run: (scope: Scope) => Promise<T>) => Promise<{ value?: T; error: string }>;

const s2 = (ms?: number) => (ms === undefined || Number.isNaN(ms) ? "n/a" : `${(ms / 1000).toFixed(2)} s`);
const r2 = (a?: number, b?: number) => (a === undefined || b === undefined || Number.isNaN(a / b) ? "n/a" : (a / b).toFixed(2));
const table = (head: string[], rows: string[][]) =>
    [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`, ...rows.map(r => `| ${r.join(" | ")} |`)].join("\n");
const stamp = () =>
    `${new Date().toISOString()}, load average ${os
        .loadavg()
        .map(x => x.toFixed(1))
        .join(" ")} on ${os.cpus().length} cores`;

export async function runUserParts(
    parts: UserPart[],
    scopes: Set<Scope>,
    part: Part,
    log: (s: string) => void,
    neighbours: { raise: (nodes: number) => string; restore: () => void },
): Promise<UserResults> {
    const res: UserResults = { errors: {}, when: {} };
    const want = (p: UserPart) => parts.includes(p);
    if (want("up")) {
        log("users 1/4: `pulumi up` from empty vs a docker run script, per topology");
        res.when.up = stamp();
        const { value, error } = await part("up vs docker", async () => benchUpVsDocker(freeSubnets(2), TOPOLOGIES, UP_REPS, scopes, log));
        res.up = value;
        if (error) res.errors.up = error;
    }
    if (want("cli")) {
        log("users 2/4: the plain CLI, no-change preview and up of the dev stack vs an empty program");
        res.when.cli = stamp();
        const { value, error } = await part("plain CLI", s => {
            const [chain, tunnel, cluster] = freeSubnets(3);
            return benchPreview(s, { chain, tunnel, cluster }, CLI_REPS, log);
        });
        res.cli = value;
        if (error) res.errors.cli = error;
    }
    if (want("failover")) {
        log("users 3/4: failover at the default and a tuned node timeout");
        res.when.failover = stamp();
        const { value, error } = await part("failover", async () => benchFailover(freeSubnets(1)[0], NODE_TIMEOUTS, scopes, log));
        res.failover = value;
        if (error) res.errors.failover = error;
    }
    if (want("growth")) {
        log("users 4/4: cost growth 3+3, 10+10, 30+30 (plain CLI)");
        res.when.growth = stamp();
        log(`  ${neighbours.raise(2 * Math.max(...GROWTH.map(g => g.masters)))}`);
        try {
            const { value, error } = await part("growth", s => benchGrowth(s, GROWTH, log));
            res.growth = value;
            if (error) res.errors.growth = error;
        } finally {
            neighbours.restore();
        }
    }
    return res;
}

// --- markdown ---------------------------------------------------------------------------------------------------------
function summary(r: UserResults): string {
    const rows: string[][] = [];
    for (const u of r.up ?? []) {
        const ratio = u.ours / u.script;
        rows.push([
            `\`pulumi up\` from empty to healthy, ${u.topology}: pulumi up vs docker run script`,
            s2(u.ours),
            s2(u.script),
            r2(u.ours, u.script),
            `<= ${TARGET.upRatio}: ${ratio <= TARGET.upRatio ? "met" : "NOT met"}`,
        ]);
    }
    const c = r.cli;
    if (c) {
        rows.push([
            `no-change \`pulumi preview\`, dev stack (${c.resources} resources), plain CLI vs \`pulumi preview\` of an empty program`,
            s2(c.preview),
            s2(c.empty),
            r2(c.preview, c.empty),
            `${TARGET.previewS} s: ${c.preview <= TARGET.previewS * 1000 ? "met" : "NOT met"}`,
        ]);
        rows.push([
            "no-change `pulumi up`, dev stack, plain CLI vs `pulumi preview` of an empty program",
            s2(c.up),
            s2(c.empty),
            r2(c.up, c.empty),
            `${TARGET.upS} s: ${c.up <= TARGET.upS * 1000 ? "met" : "NOT met"}`,
        ]);
        rows.push([
            "no-change `pulumi preview`, dev stack: as shipped now vs type-checked (before this change)",
            s2(c.preview),
            s2(c.typeChecked),
            r2(c.preview, c.typeChecked),
            "",
        ]);
    }
    const f = r.failover;
    if (f && f.length > 1) {
        rows.push([
            `master killed -> every slot writable: node timeout ${f[1].nodeTimeoutMs} ms vs ${f[0].nodeTimeoutMs} ms`,
            s2(f[1].writable),
            s2(f[0].writable),
            r2(f[1].writable, f[0].writable),
            "",
        ]);
        rows.push([
            `master killed -> planned roles back (pulumi up): node timeout ${f[1].nodeTimeoutMs} ms vs ${f[0].nodeTimeoutMs} ms`,
            s2(f[1].healedUp),
            s2(f[0].healedUp),
            r2(f[1].healedUp, f[0].healedUp),
            "",
        ]);
    }
    const g = r.growth;
    const ok = (g ?? []).filter(x => !x.error);
    if (ok.length > 1) {
        const [a, b] = [ok[0], ok[ok.length - 1]];
        rows.push([
            `\`pulumi up\` from empty per node, ${b.masters}+${b.masters} vs ${a.masters}+${a.masters}`,
            `${(b.up / b.nodes / 1000).toFixed(2)} s`,
            `${(a.up / a.nodes / 1000).toFixed(2)} s`,
            r2(b.up / b.nodes, a.up / a.nodes),
            "should not grow (<= 1)",
        ]);
        rows.push([
            `no-change preview per node, ${b.masters}+${b.masters} vs ${a.masters}+${a.masters}`,
            `${(b.preview / b.nodes / 1000).toFixed(2)} s`,
            `${(a.preview / a.nodes / 1000).toFixed(2)} s`,
            r2(b.preview / b.nodes, a.preview / a.nodes),
            "should not grow (<= 1)",
        ]);
    }
    const errors = Object.entries(r.errors)
        .map(([k, e]) => `- ${k}: FAILED ${e}`)
        .join("\n");
    return `## Summary: what users wait for (issue #17)

Side by side in one run on a shared machine (other work uses the same cores, so absolute times are noisy; each pair
ran alternately, medians). Details in sections 6-9.

${table(["comparison", "ours", "baseline", "ratio (ours / baseline)", "target"], rows)}
${errors ? `\n${errors}\n` : ""}`;
}

function upSection(r: UserResults): string {
    const rows = (r.up ?? []).map(u => [
        u.topology,
        String(u.resources),
        String(u.containers),
        s2(u.ours),
        s2(u.script),
        r2(u.ours, u.script),
        u.oursRuns.map(x => (x / 1000).toFixed(2)).join(", "),
        u.scriptRuns.map(x => (x / 1000).toFixed(2)).join(", "),
    ]);
    return `## 7. \`pulumi up\` from empty to healthy vs a docker run script (bench/updocker.ts)

Run ${r.when.up ?? "n/a"}. Per topology: the real components through the engine and the real tls/random/docker
plugins (Automation API, program in-process as \`npm run up\` runs it), against a bash script that makes the same
containers with \`docker run\`. The script is generated from \`docker inspect\` of what our first \`up\` made (every
flag: user, capabilities, read-only root, tmpfs, restart policy, log options, published ports, networks with their
addresses and aliases, volumes) and the files our writers put on each files volume (redis.conf, users.acl, start
script, spiped key), so both make identical containers; the certificates are new ones from \`openssl\` (one CA per CA
of ours, P-256 keys, the same SANs); every node's volumes, file copy and container run in parallel (\`&\`, \`wait\`);
the cluster is then formed by \`redis-cli --cluster create ... --cluster-replicas 1\`. The clock runs from the command
to healthy, by the same probe for both: every replica logged a finished sync, every cluster node's last state change
is "ok", the tunnel answers PING on its loopback port. Chain: \`ReplicationChain\` (plain -> TLS hops, 3 nodes);
tunnel: the same chain plus a \`SpipedTunnel\` in front of its head; cluster: \`RedisCluster\` 3+3 (TLS). ${UP_REPS}
runs each, alternating which goes first; everything is removed after each run.

${table(["topology", "resources", "containers (incl. file writers)", "pulumi up", "docker run script", "ratio", "pulumi up runs s", "script runs s"], rows)}
${r.errors.up ? `\nFailed: ${r.errors.up}\n` : ""}
What \`pulumi up\` does beyond the script: it starts the engine and three plugins, computes the diff of every resource,
records every output in the state (encrypting the secrets), and the bootstrap's converge then checks the live cluster
against the plan before and after its commands; the script runs no check at all.
`;
}

function cliSection(r: UserResults): string {
    const c = r.cli;
    if (!c) return `## 8. The plain CLI: no-change preview and up\n\nnot measured${r.errors.cli ? `: ${r.errors.cli}` : ""}\n`;
    const rows = [
        ["`pulumi preview` of an empty JavaScript program (the floor: CLI, engine, Node language host)", s2(c.empty), "1.00"],
        [
            "no-change `pulumi preview` of the dev stack, as the project ships (transpile-only, `refresh: always`)",
            s2(c.preview),
            r2(c.preview, c.empty),
        ],
        [
            "the same with type-checking (`PULUMI_NODEJS_TRANSPILE_ONLY=false`: the project before this change)",
            s2(c.typeChecked),
            r2(c.typeChecked, c.empty),
        ],
        ["the same with `--refresh=false` (no read of every container first)", s2(c.noRefresh), r2(c.noRefresh, c.empty)],
        ["no-change `pulumi up --yes` of the dev stack", s2(c.up), r2(c.up, c.empty)],
        ["the same with `--refresh=false`", s2(c.upNoRefresh), r2(c.upNoRefresh, c.empty)],
        [
            "the same with `--skip-preview` (refresh kept; the program runs once, not twice)",
            s2(c.upSkipPreview),
            r2(c.upSkipPreview, c.empty),
        ],
    ];
    const runs = Object.entries(c.runs)
        .map(([k, xs]) => `${k} ${xs.map(x => (x / 1000).toFixed(2)).join(", ")}`)
        .join("; ");
    return `## 8. The plain CLI: no-change \`pulumi preview\` and \`pulumi up\` of the dev stack (bench/cli.ts)

Run ${r.when.cli ?? "n/a"}. The project's own Pulumi.yaml, index.ts, program.ts and components in a copy of the
project, stack config = stacks/Pulumi.dev.yaml plus this run's subnets (chain + tunnel + 3+3 cluster,
${c.resources} resources), the plain \`pulumi\` CLI and Node language host as \`. scripts/env.sh\` sets them up.
\`pulumi up\` from empty took ${s2(c.firstUp)}. Then ${c.reps} rounds of each line below, the order reversed every
other round; medians.

${table(["command", "median", "ratio to the empty program"], rows)}

All runs (s): ${runs}.

Where the time goes:
- TypeScript: loading the program (index.ts and everything it imports) in a fresh \`node\` takes ${(c.loadTypeCheck / 1000).toFixed(2)} s
  type-checked and ${(c.loadTranspile / 1000).toFixed(2)} s transpile-only. The language host type-checked it on every preview and up;
  Pulumi.yaml now sets \`runtime.options.tsconfig: tsconfig.pulumi.json\` (tsconfig.json plus \`noCheck: true\`, which the
  Node SDK maps to ts-node's transpile-only), so the plain CLI only transpiles by default: ${s2(c.typeChecked - c.preview)} less per
  preview in this run. Types are still checked by \`npx tsc --noEmit -p .\`, \`npm test\` (ts-jest) and the editor.
- Serializing the ClusterBootstrap's dynamic provider (the SDK captures its closure with everything it uses, ~48 kB of
  code, into the state on every program run): ${(c.serialize / 1000).toFixed(2)} s in a fresh \`node\`.
- \`refresh: always\` (Pulumi.yaml): reading every container, network, volume and image before the preview costs
  ${s2(c.preview - c.noRefresh)} here; it is what lets a plain \`pulumi up\` re-create a node removed by hand, so it stays.
- The bootstrap's drift read (its diff reads CLUSTER NODES/INFO of every node, in parallel): ${(c.driftRead / 1000).toFixed(2)} s in-process
  against the live dev cluster; refresh runs the same read once more.
- The rest is the engine and plugins: starting the CLI, the Node language host, the tls/random/docker plugins and the
  dynamic provider's own Node process, and a gRPC round trip per resource (the empty program shows the floor).
- A no-change \`pulumi up\` runs the program twice: the preview it shows first, then the update itself (with the
  refresh again); \`--skip-preview\` saves the first (${s2(c.up - c.upSkipPreview)} here). The CLI has no project setting for it.
`;
}

function failoverSection(r: UserResults): string {
    const f = r.failover ?? [];
    const rows = f.flatMap(x =>
        x.runs.map(u => [
            `${x.nodeTimeoutMs} ms`,
            `${(x.crashWaitMs / 1000).toFixed(1)} s`,
            u.victim,
            s2(u.writable),
            s2(u.rejoined),
            u.healer,
            s2(u.healMs),
            s2(u.healed),
        ]),
    );
    const [d, t] = f;
    return `## 9. Failover: a master's death to every slot writable, and to the planned roles back (bench/failover.ts)

Run ${r.when.failover ?? "n/a"}. A \`RedisCluster\` 3+3 (TLS, AOF everysec) through the engine per node timeout; a
master's redis-server gets SIGKILL (Docker restarts its container, whose start script first waits the crash delay,
2 x node timeout + 2 s, so the cluster fails over to the replica instead of the old master coming back with its old
role). Clocks from the kill: **writable** = each of the three shards takes a SET (on whichever of its two nodes is
master; polled every 50 ms over open connections); **back as replica** = the old master restarted, linked to its
promoted replica; then one heal, either \`pulumi up\` (the bootstrap's diff sees the swapped roles; converge runs
CLUSTER FAILOVER on the old master) or one guard pass (\`redis-secure-topologies guard --once\`, the same converge),
and both nodes checked in their planned roles: **planned roles**.

${table(["node timeout", "crash wait", "killed", "writable after", "back as replica after", "healed by", "heal took", "planned roles after"], rows)}
${r.errors.failover ? `\nFailed: ${r.errors.failover}\n` : ""}
The trade-off: a master's slots are unwritable for about the node timeout (its peers must miss it that long before
they flag it failing), plus the replica's election delay (500 ms + up to 500 ms random + its rank x 1 s) and the
gossip of the new epoch${d && t ? `: ${s2(d.writable)} at ${d.nodeTimeoutMs} ms, ${s2(t.writable)} at ${t.nodeTimeoutMs} ms here` : ""}. A shorter
node timeout fails over sooner, but any pause longer than it (a slow disk fsync, a busy or swapping host, a long
command, a network hiccup between engines) also counts as a failure and triggers a needless failover, which drops
the acknowledged writes the old master had not yet sent to its replica. On shared or multi-host machines keep
the default 5000 ms (RedisCluster's \`nodeTimeoutMs\`); lower it (not below ~2000 ms) only on dedicated hosts on one
fast network, where a few seconds of unwritable slots matter more than the occasional spurious failover. The crash
wait grows with it (2 x timeout + 2 s), so the planned roles come back later with a longer timeout; the heal itself
(\`pulumi up\` or the guard) takes about the same either way.
`;
}

function growthSection(r: UserResults): string {
    const g = r.growth ?? [];
    const base = g[0];
    const rows = g.map(x =>
        x.error
            ? [`${x.masters}+${x.masters}`, String(x.nodes), "", `FAILED: ${x.error.replace(/\|/g, "/")}`, "", "", "", "", "", ""]
            : [
                  `${x.masters}+${x.masters}`,
                  String(x.nodes),
                  String(x.resources),
                  s2(x.up),
                  `${(x.up / x.nodes / 1000).toFixed(2)} s`,
                  base ? r2(x.up / x.nodes, base.up / base.nodes) : "n/a",
                  s2(x.preview),
                  `${(x.preview / x.nodes / 1000).toFixed(2)} s`,
                  base ? r2(x.preview / x.nodes, base.preview / base.nodes) : "n/a",
                  x.ups.map(u => (u / 1000).toFixed(1)).join(", "),
              ],
    );
    return `## 10. Cost growth: \`pulumi up\` from empty and a no-change preview at 3+3, 10+10, 30+30 (bench/cli.ts)

Run ${r.when.growth ?? "n/a"}. The project's program through the plain CLI with \`deployChain: false\` and
\`clusterMasters\` 3, 10, 30 (one replica each), the dev stack's other settings; ${GROWTH.map(x => `${x.reps} run(s) at ${x.masters}+${x.masters}`).join(", ")}
(each: up from empty, a no-change preview, destroy).

${table(["size", "nodes", "resources", "up from empty", "up per node", "per node vs 3+3", "no-change preview", "preview per node", "per node vs 3+3", "up runs s"], rows)}
${r.errors.growth ? `\nFailed: ${r.errors.growth}\n` : ""}
Per-node cost falling (ratio below 1) means the fixed costs (engine, plugins, program load) dominate and the
per-resource work grows at most linearly.
`;
}

const SECTIONS: Record<string, (r: UserResults) => string> = {
    summary,
    up: upSection,
    cli: cliSection,
    failover: failoverSection,
    growth: growthSection,
};
const marker = (k: string) => [`<!-- bench:${k} -->`, `<!-- /bench:${k} -->`];

/** Every section, with markers, for a full run. */
export function userMarkdown(r: UserResults): { summary: string; sections: string } {
    const wrap = (k: string) => `${marker(k)[0]}\n${SECTIONS[k](r)}${marker(k)[1]}\n`;
    return { summary: wrap("summary"), sections: ["up", "cli", "failover", "growth"].map(wrap).join("\n") };
}

/** A partial run: replaces the sections of the parts that ran (and the summary rows they own) in the last results.md. */
export function spliceInto(file: string, r: UserResults, ran: UserPart[]): void {
    let md = fs.readFileSync(file, "utf8");
    const prev = readPrevious(md);
    const merged: UserResults = {
        ...prev,
        ...Object.fromEntries(ran.map(p => [p, r[p]])),
        errors: { ...Object.fromEntries(Object.entries(prev.errors).filter(([k]) => !ran.includes(k as UserPart))), ...r.errors },
        when: { ...prev.when, ...r.when },
    };
    for (const k of ["summary", ...ran]) {
        const [a, b] = marker(k);
        const block = `${a}\n${SECTIONS[k](merged)}${b}`;
        const i = md.indexOf(a),
            j = md.indexOf(b);
        md = i >= 0 && j > i ? md.slice(0, i) + block + md.slice(j + b.length) : `${md.trimEnd()}\n\n${block}\n`;
    }
    md = md.replace(/<!-- bench:data [^>]*-->\n?/, "") + `<!-- bench:data ${JSON.stringify(merged)} -->\n`;
    fs.writeFileSync(file, md);
}

/** The measurements of the last run, kept in results.md (one comment line) so a partial run can re-render the summary. */
function readPrevious(md: string): UserResults {
    const m = /<!-- bench:data (.*) -->/.exec(md);
    return m ? JSON.parse(m[1]) : { errors: {}, when: {} };
}

export function dataComment(r: UserResults): string {
    return `<!-- bench:data ${JSON.stringify(r)} -->\n`;
}
