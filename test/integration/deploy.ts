// Deploys the real components through the real engine and plugins for integration tests: an inline program per
// stack (Automation API), a file backend in the test's Scope, and every Docker container, network and volume the
// components create labelled with the Scope's label, so Scope.cleanup() and scripts/clean-test-leftovers.sh remove
// what a killed run left behind.
import * as pulumi from "@pulumi/pulumi";
import { PulumiFn, Stack } from "@pulumi/pulumi/automation";
import * as path from "path";
import { inlineStack } from "../../scripts/stack";
import { Scope } from "./harness";

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

/** The plain values of an update's outputs (secrets decrypted, as the Automation API returns them). */
export function plainOutputs(outputs: Record<string, { value: unknown }>): Record<string, any> {
    return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, v.value]));
}
