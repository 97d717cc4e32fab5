// Deploys the real components through the real engine and plugins for integration tests: an inline program per
// stack (Automation API), a file backend in the test's Scope, and every Docker container, network and volume the
// components create labelled with the Scope's label, so Scope.cleanup() and scripts/clean-test-leftovers.sh remove
// what a killed run left behind.
import * as pulumi from "@pulumi/pulumi";
import { PulumiFn, Stack } from "@pulumi/pulumi/automation";
import * as path from "path";
import { inlineStack } from "../../scripts/stack";
import { pemBody, Scope } from "./harness";

const DOCKER_LABELLED = new Set(["docker:index/container:Container", "docker:index/network:Network", "docker:index/volume:Volume"]);

/** Adds the scope's label to every Docker container, network and volume of the program (a resource transform). */
export function labelDockerResources(scope: Scope): void {
    const [label, value] = scope.label.split("=");
    pulumi.runtime.registerResourceTransform(a => {
        if (!DOCKER_LABELLED.has(a.type)) return undefined;
        const labels = [...((a.props.labels as unknown[] | undefined) ?? []), { label, value }];
        return { props: { ...a.props, labels }, opts: a.opts };
    });
}

/** A stack of a throwaway project running `program`, its Docker resources labelled for `scope`. */
export function testStack(scope: Scope, stackName: string, program: PulumiFn): Promise<Stack> {
    return inlineStack(`rst-it-${stackName}`, stackName, path.join(scope.dir, "state"), async () => {
        labelDockerResources(scope);
        return program();
    });
}

/**
 * A suite's afterAll: its hand-built containers first (they may sit on a component's network, which could not be
 * deleted while they do), then the stack, then the scope, even when destroy fails.
 */
export async function tearDown(scope: Scope, stack: Stack | undefined, handBuilt: string[] = []): Promise<void> {
    try {
        if (handBuilt.length) scope.docker("rm", "-f", "-v", ...handBuilt);
        await stack?.destroy();
    } finally {
        scope.cleanup();
    }
}

/** The plain values of an update's outputs (secrets decrypted, as the Automation API returns them). */
export function plainOutputs(outputs: Record<string, { value: unknown }>): Record<string, any> {
    return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value]));
}

const SECRET_SIG = ["4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"] as const;

/**
 * Every string value the stack's state marks secret (generated passwords, spiped keys, private keys, secret
 * outputs), decrypted, named `<resource>.<property>`; a PEM by its first line of key material (what a leak shows).
 * For expectNoSecrets: what the components made, not what a test thinks they made.
 */
export async function stateSecrets(stack: Stack): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const walk = (x: unknown, at: string): void => {
        if (Array.isArray(x)) return x.forEach((y, i) => walk(y, `${at}[${i}]`));
        if (!x || typeof x !== "object") return;
        const o = x as Record<string, unknown>;
        if (o[SECRET_SIG[0]] === SECRET_SIG[1]) {
            // The plaintext is the value's JSON.
            const value: unknown = JSON.parse(String(o.plaintext));
            if (typeof value === "string") out[at] = value.startsWith("-----BEGIN") ? pemBody(value) : value;
            return;
        }
        for (const [k, v] of Object.entries(o)) walk(v, at ? `${at}.${k}` : k);
    };
    for (const r of (await stack.exportStack()).deployment.resources ?? []) walk(r.outputs, String(r.urn).split("::").pop()!);
    return out;
}
