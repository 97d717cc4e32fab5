// The project's stacks on the real engine through the Automation API, offline: a local file backend, passphrase
// secrets, no update check, no plugin downloads, the program in-process (no separate Node language host is needed).
// A library: scripts/stack.ts (the `npm run up` CLI), the tests and the benchmark open their stacks with it.
import * as crypto from "crypto";
import { LocalWorkspace, PulumiCommand, PulumiFn, Stack } from "@pulumi/pulumi/automation";
import * as fs from "fs";
import * as path from "path";
import { deploy } from "../program";
import { cacheRoot } from "./facts";

export const REPO = path.resolve(__dirname, "..");

/** Where scripts/toolchain.sh put the pulumi CLI and the Node language host (binDir) and its parent (root). */
export function toolchain(): { binDir: string; root: string } {
    const pointer = path.join(cacheRoot(), "pulumi-bin-dir");
    if (!fs.existsSync(pointer)) throw new Error(`no Pulumi toolchain yet: run \`npm run setup\` (${pointer} missing)`);
    const binDir = fs.readFileSync(pointer, "utf8").trim();
    return { binDir, root: path.dirname(binDir) };
}

/** The offline Pulumi environment: file backend (default: the cache's shared state folder), passphrase file, the built CLI. */
export function stackEnv(backendDir = path.join(cacheRoot(), "state")): Record<string, string> {
    fs.mkdirSync(backendDir, { recursive: true });
    const passphraseFile = path.join(cacheRoot(), "passphrase");
    if (!fs.existsSync(passphraseFile)) fs.writeFileSync(passphraseFile, crypto.randomBytes(24).toString("base64"), { mode: 0o600 });
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
 * (default: the repo) holds Pulumi.yaml and the stacks/ folder where the stack's config file is written; `program`
 * (default: the project's deploy()) runs in-process.
 */
export async function openStack(
    stackName: string,
    backendDir?: string,
    workDir = REPO,
    program: PulumiFn = async () => deploy(),
): Promise<Stack> {
    const ws = await LocalWorkspace.create({
        workDir,
        program,
        pulumiCommand: await PulumiCommand.get({ root: toolchain().root, skipVersionCheck: true }),
        envVars: stackEnv(backendDir),
    });
    return Stack.createOrSelect(stackName, ws);
}

/** What a copy of the project needs to run with the plain CLI as well as in-process. */
const PROJECT_FILES = [
    "Pulumi.yaml",
    "package.json",
    "tsconfig.json",
    "tsconfig.pulumi.json",
    "index.ts",
    "program.ts",
    "components",
    "stacks",
];

/**
 * A copy of the project (program, components, Pulumi.yaml, stacks/) under `dir`, with the repo's node_modules linked
 * in (the dynamic provider and the plain CLI's language host load @pulumi/pulumi from there), so a test's stack config
 * never lands in the repo.
 */
export function projectCopy(dir: string): string {
    const to = path.join(dir, "project");
    fs.mkdirSync(to, { recursive: true });
    for (const f of PROJECT_FILES) fs.cpSync(path.join(REPO, f), path.join(to, f), { recursive: true });
    fs.symlinkSync(path.join(REPO, "node_modules"), path.join(to, "node_modules"), "dir");
    return to;
}

/** A stack of a throwaway project whose program is `program` (tests and the benchmark), offline like openStack. */
export async function inlineStack(projectName: string, stackName: string, backendDir: string, program: PulumiFn): Promise<Stack> {
    return LocalWorkspace.createOrSelectStack(
        { projectName, stackName, program },
        {
            pulumiCommand: await PulumiCommand.get({ root: toolchain().root, skipVersionCheck: true }),
            envVars: stackEnv(backendDir),
        },
    );
}
