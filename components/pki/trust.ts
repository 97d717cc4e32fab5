// CaTrust: a Pulumi dynamic resource that remembers the previous CA of a topology after a CA rotation, so its nodes
// and clients trust both (the bundle) while the nodes move to certificates of the new one, and drops it on the next
// `pulumi up` after `graceHours`. No IO: its state is the two certificates (public) and when the rotation happened.
import * as pulumi from "@pulumi/pulumi";

export interface CaTrustInputs {
    /** The current CA's certificate. */
    caPem: pulumi.Input<string>;
    /** Hours the previous CA stays trusted after a rotation (0: until the next `pulumi up`). */
    graceHours: pulumi.Input<number>;
}

export interface TrustState {
    caPem: string;
    previousPem?: string;
    since?: number;
}

/** The previous CA to keep trusting: the old one right after the CA changed, dropped once `graceHours` passed. */
export function trustDecision(olds: TrustState | undefined, caPem: string, graceHours: number, now: number): TrustState {
    if (!olds) return { caPem };
    if (olds.caPem !== caPem) return { caPem, previousPem: olds.caPem, since: now };
    if (olds.previousPem && now >= (olds.since ?? 0) + graceHours * 3_600_000) return { caPem };
    return { caPem, previousPem: olds.previousPem, since: olds.since };
}

/** The bundle the topology trusts: the current CA first, then the previous one while it is kept. */
export function bundleOf(s: TrustState): string {
    return [s.caPem, s.previousPem]
        .filter(Boolean)
        .map(p => p!.trimEnd() + "\n")
        .join("");
}

interface Props extends TrustState {
    graceHours: number;
    bundle?: string;
}

// Without the previous CA its fields are left out: the engine's protocol has no `undefined` ("Unexpected struct type").
const outs = (s: TrustState, graceHours: number): Props => ({
    caPem: s.caPem,
    graceHours,
    ...(s.previousPem && { previousPem: s.previousPem, since: s.since }),
    bundle: bundleOf(s),
});

export const caTrustProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: Props, news: Props) {
        return { inputs: news };
    },
    async diff(_id: string, olds: Props, news: Props) {
        // A preview hands over a value not known yet as this string.
        if (typeof news.caPem !== "string" || news.caPem === pulumi.runtime.unknownValue || typeof news.graceHours !== "number")
            return { changes: true };
        const next = trustDecision(olds, news.caPem, news.graceHours, Date.now());
        const changes = next.caPem !== olds.caPem || next.previousPem !== olds.previousPem || news.graceHours !== olds.graceHours;
        if (olds.previousPem && !next.previousPem) console.error("CaTrust: the previous CA is no longer trusted after this update");
        return { changes };
    },
    async create(inputs: Props) {
        return { id: "trust", outs: outs(trustDecision(undefined, inputs.caPem, inputs.graceHours, Date.now()), inputs.graceHours) };
    },
    async update(_id: string, olds: Props, news: Props) {
        return { outs: outs(trustDecision(olds, news.caPem, news.graceHours, Date.now()), news.graceHours) };
    },
    async delete() {
        /* nothing outside the state */
    },
};

export class CaTrust extends pulumi.dynamic.Resource {
    /** The CA certificates to trust, PEM (the current one, and the previous one during a rotation). */
    declare readonly bundle: pulumi.Output<string>;
    declare readonly previousPem: pulumi.Output<string | undefined>;

    constructor(name: string, args: CaTrustInputs, opts?: pulumi.CustomResourceOptions) {
        super(caTrustProvider, name, { ...args, previousPem: undefined, since: undefined, bundle: undefined }, opts, "redis", "CaTrust");
    }
}
