// Entry point for `pulumi up` with the Node language host: the stack outputs are the deployment's outputs
// (chain, tunnel, cluster; deploy() is async because it asks the cluster's engines before creating anything).
import { deploy } from "./program";

export = deploy;
