// Entry point for `pulumi up` with the Node language host: the stack outputs are the deployment's outputs.
import { deploy } from "./program";

const out = deploy();
export const chain = out.chain;
export const tunnel = out.tunnel;
export const cluster = out.cluster;
