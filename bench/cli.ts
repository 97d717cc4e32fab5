// What users wait for with the plain `pulumi` CLI (as `. scripts/env.sh; pulumi preview` runs it): the project's own
// program (index.ts -> program.ts -> components/) in a project copy, its dev stack config plus this run's subnets,
// against `pulumi preview` of an empty program. Also where a no-change preview's time goes, and how `pulumi up` from
// empty and a no-change preview grow with the cluster's size.
import { execFile } from "child_process";
import * as fs from "fs";
import * as yaml from "js-yaml";
import * as path from "path";
import { performance } from "perf_hooks";
import { clusterBootstrapProvider } from "../components/cluster/bootstrap";
import { projectCopy, REPO, stackEnv, toolchain } from "../scripts/workspace";
import { Scope } from "../test/integration/harness";
import { freeSubnets, median } from "./common";

const KEY = "redis-secure-topologies";

export interface CliRun {
    ms: number;
    out: string;
}

/** One plain CLI command in `workDir`, offline like `. scripts/env.sh`; `env` adds to (or overrides) the environment. */
export function pulumi(workDir: string, backend: string, stack: string, args: string[], env: Record<string, string> = {}): Promise<CliRun> {
    const t = performance.now();
    return new Promise((resolve, reject) => {
        execFile(
            path.join(toolchain().binDir, "pulumi"),
            [...args, "--stack", stack, "--non-interactive", "--color", "never"],
            { cwd: workDir, env: { ...process.env, ...stackEnv(backend), ...env }, timeout: 900_000, maxBuffer: 64 << 20 },
            (e, stdout, stderr) =>
                e
                    ? reject(
                          new Error(
                              `pulumi ${args.join(" ")} failed (${e.code}): ${`${stdout.slice(-3000)} ${stderr.slice(-3000)} ${e.message.slice(0, 500)}`.replace(/\s+/g, " ")}`,
                          ),
                      )
                    : resolve({ ms: performance.now() - t, out: `${stdout}\n${stderr}` }),
        );
    });
}

/** Throws unless a preview/up output reports every resource unchanged. */
export function expectNoChange(what: string, r: CliRun): CliRun {
    // The last "Resources:" block is the summary (the lines above it include refresh progress, "~ ... refreshing").
    const summary = r.out.slice(r.out.lastIndexOf("Resources:"));
    if (
        !r.out.includes("Resources:") ||
        /\b\d+ (to (create|update|delete|replace)|created|updated|deleted|replaced)\b/.test(summary) ||
        !/\d+ unchanged/.test(summary)
    ) {
        throw new Error(
            `${what} was not a no-change run: ${r.out
                .split("\n")
                .filter(l => /^\s*[~+-]|\d+ (to |created|updated|deleted|replaced|unchanged)/.test(l))
                .join(" | ")
                .slice(0, 600)}`,
        );
    }
    return r;
}

/** The floor: a project whose program is `module.exports = {}` in plain JavaScript (no TypeScript, no plugins). */
export function emptyProject(dir: string): string {
    const to = path.join(dir, "empty");
    fs.mkdirSync(to, { recursive: true });
    fs.writeFileSync(
        path.join(to, "Pulumi.yaml"),
        "name: bn-empty\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.js\n",
    );
    fs.writeFileSync(path.join(to, "index.js"), "module.exports = {};\n");
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(to, "node_modules"), "dir");
    return to;
}

/** The project copy with stack `stack`'s config: the dev stack's file plus `config` (subnets, sizes). */
export function projectStack(dir: string, stack: string, config: Record<string, string | number | boolean>): string {
    const work = projectCopy(dir);
    const dev = yaml.load(fs.readFileSync(path.join(REPO, "stacks", "Pulumi.dev.yaml"), "utf8")) as { config: Record<string, unknown> };
    for (const [k, v] of Object.entries(config)) dev.config[`${KEY}:${k}`] = String(v);
    fs.writeFileSync(path.join(work, "stacks", `Pulumi.${stack}.yaml`), yaml.dump(dev));
    return work;
}

export interface PreviewBreakdown {
    reps: number;
    empty: number;
    preview: number;
    up: number;
    /** The same no-change preview with type-checking forced on (the project's Pulumi.yaml before this bench's fix). */
    typeChecked: number;
    /** With `--refresh=false`: what the project's `refresh: always` costs. */
    noRefresh: number;
    /** No-change `up` with `--refresh=false`, and with `--skip-preview` (the program runs once instead of twice). */
    upNoRefresh: number;
    upSkipPreview: number;
    /** Loading the program (index.ts and everything it imports) in a fresh `node`, transpile-only vs type-checked. */
    loadTranspile: number;
    loadTypeCheck: number;
    /** Serializing the bootstrap's dynamic provider into state, which every program run does (fresh node). */
    serialize: number;
    /** The bootstrap's own drift read in-process against the live cluster (its diff; refresh calls the same read). */
    driftRead: number;
    firstUp: number;
    resources: number;
    runs: Record<string, number[]>;
}

/** Milliseconds `script` prints last, run by a fresh `node` in `workDir`. */
function nodeMs(workDir: string, script: string): Promise<number> {
    return new Promise((resolve, reject) =>
        execFile(process.execPath, ["-e", script], { cwd: workDir, timeout: 120_000 }, (e, out) =>
            e ? reject(e) : resolve(Number(out.trim().split("\n").pop())),
        ),
    );
}
const loadTime = (workDir: string, transpileOnly: boolean) =>
    nodeMs(
        workDir,
        `const t=process.hrtime.bigint();require("ts-node").register({transpileOnly:${transpileOnly},project:"tsconfig.json"});` +
            `require("./program");console.log(Number(process.hrtime.bigint()-t)/1e6)`,
    );
/**
 * What the SDK does once per program run for the ClusterBootstrap: serialize its dynamic provider (closure and all it
 * captures) into state.
 */
const serializeTime = (workDir: string) =>
    nodeMs(
        workDir,
        `require("ts-node").register({transpileOnly:true,project:"tsconfig.json"});const p=require("./components/cluster/bootstrap").clusterBootstrapProvider;` +
            `const sc=require("@pulumi/pulumi/runtime/closure/serializeClosure");const t=process.hrtime.bigint();` +
            `sc.serializeFunction(()=>p,{allowSecrets:true}).then(()=>console.log(Number(process.hrtime.bigint()-t)/1e6))`,
    );

/**
 * The dev stack (chain + tunnel + 3+3 cluster) through the plain CLI: up from empty, then `reps` rounds of no-change
 * preview, no-change up, the variants, and the empty program's preview, the order alternating round by round.
 */
export async function benchPreview(
    scope: Scope,
    subnets: { chain: string; tunnel: string; cluster: string },
    reps: number,
    log: (s: string) => void,
): Promise<PreviewBreakdown> {
    const backend = path.join(scope.dir, "cli-state");
    const stack = "bnperf";
    const work = projectStack(scope.dir, stack, {
        chainSubnet: subnets.chain,
        tunnelSubnet: subnets.tunnel,
        clusterSubnet: subnets.cluster,
        tunnelListenPort: 16391,
        maxmemory: "64mb",
    });
    const empty = emptyProject(scope.dir);
    await pulumi(work, backend, stack, ["stack", "init"]);
    await pulumi(empty, backend, stack, ["stack", "init"]);
    try {
        const first = await pulumi(work, backend, stack, ["up", "--yes"]);
        const resources = Number(/(\d+) created/.exec(first.out.slice(first.out.lastIndexOf("Resources:")))?.[1] ?? NaN);
        log(`  plain CLI: dev stack up from empty ${(first.ms / 1000).toFixed(2)} s (${resources} resources)`);
        const steps: [string, () => Promise<CliRun>][] = [
            ["empty", () => pulumi(empty, backend, stack, ["preview"])],
            ["preview", async () => expectNoChange("preview", await pulumi(work, backend, stack, ["preview"]))],
            ["up", async () => expectNoChange("up", await pulumi(work, backend, stack, ["up", "--yes"]))],
            [
                "typeChecked",
                async () =>
                    expectNoChange("preview", await pulumi(work, backend, stack, ["preview"], { PULUMI_NODEJS_TRANSPILE_ONLY: "false" })),
            ],
            ["noRefresh", async () => expectNoChange("preview", await pulumi(work, backend, stack, ["preview", "--refresh=false"]))],
            ["upNoRefresh", async () => expectNoChange("up", await pulumi(work, backend, stack, ["up", "--yes", "--refresh=false"]))],
            ["upSkipPreview", async () => expectNoChange("up", await pulumi(work, backend, stack, ["up", "--yes", "--skip-preview"]))],
        ];
        const runs: Record<string, number[]> = Object.fromEntries(steps.map(([k]) => [k, []]));
        for (let i = 0; i < reps; i++) {
            for (const [k, f] of i % 2 ? [...steps].reverse() : steps) runs[k].push((await f()).ms);
            log(`  plain CLI round ${i + 1}: ${steps.map(([k]) => `${k} ${(runs[k][i] / 1000).toFixed(2)} s`).join(", ")}`);
        }
        const loads = { t: [] as number[], c: [] as number[], s: [] as number[] };
        for (let i = 0; i < 3; i++) {
            loads.t.push(await loadTime(work, true));
            loads.c.push(await loadTime(work, false));
            loads.s.push(await serializeTime(work));
        }
        const driftRead = await timeDriftRead(work, backend, stack);
        log(
            `  program load: transpile-only ${median(loads.t).toFixed(0)} ms, type-checked ${median(loads.c).toFixed(0)} ms; provider serialization ${median(loads.s).toFixed(0)} ms; bootstrap drift read ${driftRead.toFixed(0)} ms`,
        );
        return {
            reps,
            empty: median(runs.empty),
            preview: median(runs.preview),
            up: median(runs.up),
            typeChecked: median(runs.typeChecked),
            noRefresh: median(runs.noRefresh),
            upNoRefresh: median(runs.upNoRefresh),
            upSkipPreview: median(runs.upSkipPreview),
            loadTranspile: median(loads.t),
            loadTypeCheck: median(loads.c),
            serialize: median(loads.s),
            driftRead,
            firstUp: first.ms,
            resources,
            runs,
        };
    } finally {
        await pulumi(work, backend, stack, ["destroy", "--yes"]).catch(e =>
            log(`  warning: destroy failed: ${(e as Error).message.split("\n")[0]}`),
        );
    }
}

/** The ClusterBootstrap's diff on the live cluster, in-process, from the stack's own outputs (median of 5). */
async function timeDriftRead(work: string, backend: string, stack: string): Promise<number> {
    const out = JSON.parse(
        (await pulumi(work, backend, stack, ["stack", "output", "cluster", "--json", "--show-secrets"])).out.split("\n\n")[0],
    );
    const props = { clusterName: out.nodes[0].name.replace(/-m0$/, ""), nodes: out.nodes, auth: out.adminUser, tls: { ca: out.caCertPem } };
    const ms: number[] = [];
    for (let i = 0; i < 5; i++) {
        const t = performance.now();
        const d = await clusterBootstrapProvider.diff!("x", props, props);
        if (d.changes) throw new Error("the bootstrap's diff on the live dev cluster found drift");
        ms.push(performance.now() - t);
    }
    return median(ms);
}

export interface GrowthRow {
    masters: number;
    nodes: number;
    resources: number;
    up: number;
    preview: number;
    ups: number[];
    previews: number[];
    error?: string;
}

/**
 * The cluster alone (deployChain false) at each size through the plain CLI: up from empty, no-change previews, destroy.
 * Each size takes a subnet free when it starts: on a shared engine, one chosen for the whole part was taken by another
 * run's network before the 30+30 size came (Docker: "Pool overlaps with other one on this address space").
 */
export async function benchGrowth(
    scope: Scope,
    sizes: { masters: number; reps: number }[],
    log: (s: string) => void,
): Promise<GrowthRow[]> {
    const rows: GrowthRow[] = [];
    for (const s of sizes) {
        const backend = path.join(scope.dir, `grow-state-${s.masters}`);
        const stack = `bngrow${s.masters}`;
        const dir = path.join(scope.dir, `grow-${s.masters}`);
        fs.mkdirSync(dir);
        const work = projectStack(dir, stack, {
            deployChain: false,
            clusterMasters: s.masters,
            clusterSubnet: freeSubnets(1)[0],
            maxmemory: "32mb",
        });
        await pulumi(work, backend, stack, ["stack", "init"]);
        const ups: number[] = [],
            previews: number[] = [];
        let resources = NaN;
        let error: string | undefined;
        for (let i = 0; i < s.reps && !error; i++) {
            try {
                const r = await pulumi(work, backend, stack, ["up", "--yes"]).catch(e => {
                    // The engine's own error lines, not the progress before them.
                    throw new Error(
                        (e as Error).message
                            .split(/ (?=error:)/)
                            .slice(1)
                            .join(" ")
                            .slice(0, 400) || (e as Error).message.slice(-400),
                    );
                });
                resources = Number(/(\d+) created/.exec(r.out.slice(r.out.lastIndexOf("Resources:")))?.[1] ?? NaN);
                ups.push(r.ms);
                previews.push(expectNoChange("preview", await pulumi(work, backend, stack, ["preview"])).ms);
                log(
                    `  growth ${s.masters}+${s.masters}: up from empty ${(r.ms / 1000).toFixed(2)} s (${resources} resources), no-change preview ${(previews[i] / 1000).toFixed(2)} s`,
                );
            } catch (e) {
                error = (e as Error).message;
                log(`  growth ${s.masters}+${s.masters}: FAILED ${error}`);
            } finally {
                await pulumi(work, backend, stack, ["destroy", "--yes"]).catch(e =>
                    log(`  warning: destroy failed: ${(e as Error).message.split("\n")[0]}`),
                );
            }
        }
        rows.push({
            masters: s.masters,
            nodes: 2 * s.masters,
            resources,
            up: median(ups),
            preview: median(previews),
            ups,
            previews,
            error,
        });
    }
    return rows;
}
