#!/usr/bin/env node
// `redis-secure-topologies guard | backup | restore`: the package's command line. Reads a topology's plan, admin user
// and TLS material from a stack's outputs (or a JSON file of them) and runs the guard, a backup or a restore.
// Secrets are never printed.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseArgs } from "util";
import { guard, targetFromOutputs } from ".";
import { backup, restore, topologyFromOutputs } from "../backup";

const USAGE = `usage: redis-secure-topologies guard (--stack <name> [--cwd <project dir>] | --outputs <file.json>)
         [--output <key>] [--once] [--interval <seconds>] [--lease <path>]

  --stack      read the outputs of this stack of the Pulumi project in --cwd (default: the current directory),
               with the usual Pulumi environment (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE[_FILE], pulumi on PATH)
  --outputs    read them from a file instead, e.g. \`pulumi stack output --json --show-secrets\` (keep it 0600)
  --output     the stack output holding the RedisCluster's outputs (default "cluster")
  --once       one pass; exit 0 when the cluster ends as planned, 1 otherwise
  --interval   seconds between passes (default 30)
  --lease      where guards take turns; only the holder heals (default: beside the file backend or the outputs file)

       redis-secure-topologies backup (--stack <name> [--cwd <dir>] | --outputs <file.json>) [--output <key>] --to <new dir>
       redis-secure-topologies restore (--stack <name> [--cwd <dir>] | --outputs <file.json>) [--output <key>] --from <dir>
         [--replace] [--image <image>]

  backup       per master BGSAVE, its RDB copied out through the Docker engine (DOCKER_HOST), the slot map and the plan,
               into a new directory (0700, files 0600) with manifest.json and SHA256SUMS
  restore      into a topology of the same shape (kind, masters, slots): checks every file and the shape first, then
               replays each RDB's keys with their expiry into its master and waits for the replicas
  --output     the stack output holding the topology (default "cluster", else "chain"): a RedisCluster, a
               ReplicationChain or a single node's outputs, with its adminUser
  --replace    overwrite keys the target holds (default: refuse a target that holds any key)
  --image      the image of the throwaway server that reads each RDB (default: the nodes' image)`;

const COMMON_OPTIONS = {
    stack: { type: "string" },
    cwd: { type: "string" },
    outputs: { type: "string" },
    output: { type: "string" },
    help: { type: "boolean" },
} as const;

export async function main(argv: string[]): Promise<number> {
    const [command, ...rest] = argv;
    let values: Record<string, string | boolean | undefined>;
    try {
        const options = {
            guard: { ...COMMON_OPTIONS, once: { type: "boolean" }, interval: { type: "string" }, lease: { type: "string" } },
            backup: { ...COMMON_OPTIONS, to: { type: "string" } },
            restore: { ...COMMON_OPTIONS, from: { type: "string" }, replace: { type: "boolean" }, image: { type: "string" } },
        } as const;
        if (!(command in options)) throw new Error(command ? `unknown command "${command}"` : "no command given");
        ({ values } = parseArgs({
            args: rest,
            options: options[command as keyof typeof options] as import("util").ParseArgsConfig["options"],
        }) as { values: typeof values });
        if (values.help) {
            console.log(USAGE);
            return 0;
        }
        if (!values.stack === !values.outputs) throw new Error("give exactly one of --stack or --outputs");
        if (values.interval !== undefined && !(Number(values.interval) > 0))
            throw new Error(`--interval must be a number of seconds above 0, got "${values.interval}"`);
        if (command === "backup" && typeof values.to !== "string") throw new Error("backup needs --to <new directory>");
        if (command === "restore" && typeof values.from !== "string") throw new Error("restore needs --from <backup directory>");
    } catch (e) {
        console.error(`${(e as Error).message}\n${USAGE}`);
        return 2;
    }
    const source =
        typeof values.outputs === "string"
            ? fromFile(values.outputs)
            : await fromStack(String(values.stack), String(values.cwd ?? process.cwd()));
    const key = typeof values.output === "string" ? values.output : undefined;
    if (command === "backup") {
        await backup(topologyFromOutputs(source.outputs, key), { to: String(values.to) });
        return 0;
    }
    if (command === "restore") {
        await restore(topologyFromOutputs(source.outputs, key), {
            from: String(values.from),
            replace: values.replace === true,
            image: typeof values.image === "string" ? values.image : undefined,
            // On a terminal, one line counts the keys as they go (cleared before the next log line).
            ...(process.stdout.isTTY && { progress: (line: string) => process.stdout.write(`\r\x1b[K${line}`) }),
            log: line => console.log(`${process.stdout.isTTY ? "\r\x1b[K" : ""}${line}`),
        });
        return 0;
    }
    const target = targetFromOutputs(source.outputs, key);
    const stop = new AbortController();
    for (const s of ["SIGINT", "SIGTERM"] as const) process.once(s, () => stop.abort());
    return guard(target, {
        once: values.once === true,
        intervalMs: Number(values.interval ?? 30) * 1000,
        lease: typeof values.lease === "string" ? values.lease : source.lease,
        signal: stop.signal,
    });
}

/** A stack's outputs by name (targetFromOutputs and topologyFromOutputs check the one they read) and its guards' lease. */
interface StackOutputs {
    outputs: Record<string, unknown>;
    lease: string;
}

function fromFile(file: string): StackOutputs {
    checkPrivate(file);
    return { outputs: JSON.parse(fs.readFileSync(file, "utf8")), lease: `${path.resolve(file)}.guard-lease` };
}

/** The outputs file holds the admin password and the client key: refuse one that group or others can read. */
export function checkPrivate(file: string): void {
    const mode = fs.statSync(file).mode & 0o777;
    if (mode & 0o077) {
        throw new Error(
            `--outputs ${file} is readable by ${mode & 0o007 ? "others" : "its group"} (mode ${mode.toString(8).padStart(4, "0")}); ` +
                `it holds secrets: chmod 600 ${file}`,
        );
    }
}

async function fromStack(stackName: string, workDir: string): Promise<StackOutputs> {
    const { LocalWorkspace } = await import("@pulumi/pulumi/automation");
    console.log(`reading the outputs of stack ${stackName}`);
    let outputs: Record<string, unknown>;
    let backend: string;
    try {
        const stack = await LocalWorkspace.selectStack({ stackName, workDir });
        outputs = Object.fromEntries(Object.entries(await stack.outputs()).map(([k, v]) => [k, v.value]));
        backend = (await stack.workspace.whoAmI()).url ?? "";
    } catch (e) {
        // The CLI's own "error: ..." line says it best; the rest is the command line and both streams.
        const why = /error: (.*)/.exec((e as Error).message)?.[1] ?? (e as Error).message;
        throw new Error(`cannot read the outputs of stack ${stackName} in ${workDir}: ${why}`);
    }
    const { lease, warning } = defaultLease(stackName, backend);
    if (warning) console.log(warning);
    return { outputs, lease };
}

/** Where a stack's guards meet by default: beside a file backend; else this machine's temp folder, with a warning. */
export function defaultLease(stackName: string, backend: string): { lease: string; warning?: string } {
    const file = `guard-${stackName.replace(/[^\w.-]/g, "_")}.lease`;
    if (!backend.startsWith("file://")) {
        const lease = path.join(os.tmpdir(), `redis-secure-topologies-${file}`);
        return {
            lease,
            warning:
                `lease: ${lease} is on this machine only (the backend ${backend} is not a folder); guards on other machines ` +
                "do not see it: give them all --lease <path> on a shared filesystem",
        };
    }
    // file:///abs/dir, file://~/dir, with or without ?options
    const dir = backend
        .slice("file://".length)
        .split("?")[0]
        .replace(/^~(?=\/|$)/, os.homedir());
    return { lease: path.join(dir, file) };
}

if (require.main === module) {
    main(process.argv.slice(2)).then(
        code => process.exit(code),
        e => {
            console.error(`${process.argv[2] ?? "guard"}: ${(e as Error).message}`);
            process.exit(1);
        },
    );
}
