// Runs the project's own stacks (Pulumi.yaml + stacks/Pulumi.<stack>.yaml) on the real engine through the
// Automation API, with the program in-process (no separate Node language host is needed), offline:
// a local file backend, passphrase secrets, no update check, no plugin downloads.
import { LocalWorkspace, PulumiCommand, PulumiFn, Stack } from "@pulumi/pulumi/automation";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { main as guardMain } from "../components/guard/cli";
import { deploy } from "../program";

export const REPO = path.resolve(__dirname, "..");
export const CACHE = process.env.RST_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "redis-secure-topologies");

/** Where scripts/toolchain.sh put the pulumi CLI (binDir, its parent root), and which plugins it could not provide. */
export function toolchain(): { binDir: string; root: string; missingPlugins: string[] } {
    const pointer = path.join(CACHE, "pulumi-bin-dir");
    if (!fs.existsSync(pointer)) throw new Error(`no Pulumi toolchain yet: run \`npm run setup\` (${pointer} missing)`);
    const binDir = fs.readFileSync(pointer, "utf8").trim();
    const missing = path.join(path.dirname(binDir), "missing-plugins");
    return { binDir, root: path.dirname(binDir), missingPlugins: fs.existsSync(missing) ? fs.readFileSync(missing, "utf8").split("\n").filter(Boolean) : [] };
}

/** The offline Pulumi environment: file backend (default: the cache's shared state folder), passphrase file, the built CLI. */
export function stackEnv(backendDir = path.join(CACHE, "state")): Record<string, string> {
    fs.mkdirSync(backendDir, { recursive: true });
    const passphraseFile = path.join(CACHE, "passphrase");
    if (!fs.existsSync(passphraseFile)) fs.writeFileSync(passphraseFile, require("crypto").randomBytes(24).toString("base64"), { mode: 0o600 });
    return {
        PULUMI_BACKEND_URL: `file://${backendDir}`,
        PULUMI_CONFIG_PASSPHRASE_FILE: passphraseFile,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PATH: `${toolchain().binDir}:${process.env.PATH}`,
    };
}

/**
 * Opens (or creates) a stack of the project. `backendDir` defaults to the cache's shared state folder; `workDir`
 * (default: the repo) holds Pulumi.yaml and the stacks/ folder where the stack's config file is written.
 */
export async function openStack(stackName: string, backendDir?: string, workDir = REPO): Promise<Stack> {
    const ws = await LocalWorkspace.create({
        workDir,
        program: async () => deploy(),
        pulumiCommand: await PulumiCommand.get({ root: toolchain().root, skipVersionCheck: true }),
        envVars: stackEnv(backendDir),
    });
    return Stack.createOrSelect(stackName, ws);
}

/** A copy of the project's Pulumi.yaml and stacks/ under `dir`, so a test's stack config never lands in the repo. */
export function projectCopy(dir: string): string {
    const to = path.join(dir, "project");
    fs.mkdirSync(path.join(to, "stacks"), { recursive: true });
    fs.copyFileSync(path.join(REPO, "Pulumi.yaml"), path.join(to, "Pulumi.yaml"));
    for (const f of fs.readdirSync(path.join(REPO, "stacks"))) fs.copyFileSync(path.join(REPO, "stacks", f), path.join(to, "stacks", f));
    return to;
}

/** A stack of a throwaway project whose program is `program` (tests and the benchmark), offline like openStack. */
export async function inlineStack(projectName: string, stackName: string, backendDir: string, program: PulumiFn): Promise<Stack> {
    return LocalWorkspace.createOrSelectStack({ projectName, stackName, program }, {
        pulumiCommand: await PulumiCommand.get({ root: toolchain().root, skipVersionCheck: true }),
        envVars: { ...stackEnv(backendDir), PULUMI_HOME: `${backendDir}.home` },
    });
}

async function main(): Promise<void> {
    const [command = "up", stackName = "dev", ...rest] = process.argv.slice(2);
    if (command === "guard") {
        // The package's guard command, against this project's stack in the offline environment.
        Object.assign(process.env, stackEnv(), { PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true" });
        process.exit(await guardMain(["guard", "--stack", stackName, "--cwd", REPO, ...rest]));
    }
    const { missingPlugins } = toolchain();
    if (missingPlugins.length && command !== "destroy") {
        console.error(`cannot ${command} stack ${stackName}: the resource plugins ${missingPlugins.join(", ")} are not installed and ` +
            "could not be built here (see the toolchain output above for the exact Go modules the proxy refused).");
        process.exit(2);
    }
    const stack = await openStack(stackName);
    const onOutput = (s: string) => process.stdout.write(s);
    if (command === "up") {
        const r = await stack.up({ onOutput, color: "always" });
        console.log(`\noutputs: ${Object.keys(r.outputs).join(", ")} (secrets stay encrypted in state)`);
    } else if (command === "preview") {
        await stack.preview({ onOutput, diff: true, color: "always" });
    } else if (command === "destroy") {
        await stack.destroy({ onOutput, color: "always" });
    } else {
        throw new Error(`unknown command "${command}": use up, preview, destroy or guard`);
    }
}

if (require.main === module) main().catch(e => { console.error(e instanceof Error ? e.message : e); process.exit(1); });
