// `npm run up [up|preview|destroy|guard] [stack]`: runs the project's own stacks (Pulumi.yaml +
// stacks/Pulumi.<stack>.yaml) in the offline environment of ./workspace, with the program in-process.
import { main as guardMain } from "../components/guard/cli";
import { openStack, REPO, stackEnv } from "./workspace";

async function main(): Promise<void> {
    const [command = "up", stackName = "dev", ...rest] = process.argv.slice(2);
    if (command === "guard") {
        // The package's guard command, against this project's stack in the offline environment.
        Object.assign(process.env, stackEnv(), { PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true" });
        process.exit(await guardMain(["guard", "--stack", stackName, "--cwd", REPO, ...rest]));
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

main().catch(e => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
});
