// PKI for the topologies: a CA and the certificates it signs (@pulumi/tls). Private keys stay Pulumi secrets.
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import * as v from "../validate";
import type { TlsMaterial } from "../redis/wire";
import { CaTrust } from "./trust";
import {
    allowedUses,
    CaRotation,
    caRotation,
    CertUse,
    DEFAULT_CERT_VALIDITY_HOURS,
    defaultEarlyRenewalHours,
    validateCertificate,
} from "./validate";

export { allowedUses, CA_ROTATION_DEFAULTS, CaRotation, caRotation, certificateLifetime, CertUse, validateCertificate } from "./validate";
export { bundleOf, CaTrust, trustDecision } from "./trust";

/** A Redis node certificate's SANs: its name and address, and loopback only when asked (`loopbackSans`). */
export function nodeSans(n: { name: string; ip: string }, loopback: boolean): { dnsNames: string[]; ipAddresses: string[] } {
    return loopback ? { dnsNames: [n.name, "localhost"], ipAddresses: [n.ip, "127.0.0.1"] } : { dnsNames: [n.name], ipAddresses: [n.ip] };
}

/** How long a topology's node and client certificates live and when `pulumi up` renews them (as in CertificateArgs). */
export interface CertificateLifetime {
    /** Validity in hours (default 1 year, at least 24). */
    validityHours?: number;
    /** Renew this many hours before expiry on the next `pulumi up` (default 30 days, or half the validity if shorter). */
    earlyRenewalHours?: number;
}

export interface CertificateAuthorityArgs {
    /** Subject common name (default: the resource name). */
    commonName?: string;
    /** CA validity in hours (default 10 years). */
    validityHours?: number;
}

/** A self-signed ECDSA P-256 certificate authority. */
export class CertificateAuthority extends pulumi.ComponentResource {
    readonly certPem: pulumi.Output<string>;
    /** Secret. */
    readonly privateKeyPem: pulumi.Output<string>;

    constructor(name: string, args: CertificateAuthorityArgs = {}, opts?: pulumi.ComponentResourceOptions) {
        super("redis-secure-topologies:pki:CertificateAuthority", name, {}, opts);
        const validityHours = v.validityHours("validityHours", args.validityHours ?? 24 * 365 * 10);
        const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
        const cert = new tls.SelfSignedCert(
            `${name}-cert`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: args.commonName ?? name, organization: "redis-secure-topologies" },
                isCaCertificate: true,
                validityPeriodHours: validityHours,
                allowedUses: ["cert_signing", "crl_signing", "digital_signature"],
            },
            { parent: this },
        );
        this.certPem = cert.certPem;
        this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        this.registerOutputs({ certPem: this.certPem, privateKeyPem: this.privateKeyPem });
    }
}

export interface CertificateArgs {
    ca: CertificateAuthority;
    commonName: string;
    /** Every DNS name clients use to reach the holder (container names, aliases, localhost). */
    dnsNames?: string[];
    /** Every IP address clients use (container IPs, 127.0.0.1 for published ports). */
    ipAddresses?: string[];
    /** "server", "client" (mutual TLS) or "peer" (both: Redis nodes). */
    use: CertUse;
    /** Validity in hours (default 1 year). */
    validityHours?: number;
    /** Renew this many hours before expiry on the next `pulumi up` (default 30 days, or half the validity if shorter). */
    earlyRenewalHours?: number;
}

/** A key and a certificate signed by `ca`. */
export class Certificate extends pulumi.ComponentResource {
    readonly certPem: pulumi.Output<string>;
    /** Secret. */
    readonly privateKeyPem: pulumi.Output<string>;
    /** Secret: the certificate and its key together, as a client presents them. */
    readonly keyPair: pulumi.Output<{ cert: string; key: string }>;

    constructor(name: string, args: CertificateArgs, opts?: pulumi.ComponentResourceOptions) {
        super("redis-secure-topologies:pki:Certificate", name, {}, opts);
        const validityHours = args.validityHours ?? DEFAULT_CERT_VALIDITY_HOURS;
        const earlyRenewalHours = args.earlyRenewalHours ?? defaultEarlyRenewalHours(validityHours);
        validateCertificate({ ...args, validityHours, earlyRenewalHours });
        const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, { parent: this });
        const csr = new tls.CertRequest(
            `${name}-csr`,
            {
                privateKeyPem: key.privateKeyPem,
                subject: { commonName: args.commonName, organization: "redis-secure-topologies" },
                dnsNames: args.dnsNames,
                ipAddresses: args.ipAddresses,
            },
            { parent: this },
        );
        const cert = new tls.LocallySignedCert(
            `${name}-cert`,
            {
                certRequestPem: csr.certRequestPem,
                caPrivateKeyPem: args.ca.privateKeyPem,
                caCertPem: args.ca.certPem,
                validityPeriodHours: validityHours,
                earlyRenewalHours,
                allowedUses: allowedUses(args.use),
            },
            { parent: this },
        );
        this.certPem = cert.certPem;
        this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        this.keyPair = pulumi.secret(
            pulumi.all([this.certPem, key.privateKeyPem]).apply(([certPem, keyPem]) => ({ cert: certPem, key: keyPem })),
        );
        this.registerOutputs({ certPem: this.certPem, privateKeyPem: this.privateKeyPem });
    }
}

/** Secret: what a topology's own client connects with: the CA (or bundle) to trust and, when given, its certificate. */
export function clientTlsMaterial(caPem: pulumi.Input<string>, client?: Certificate): pulumi.Output<TlsMaterial> {
    return pulumi.secret(
        client ? pulumi.all([caPem, client.keyPair]).apply(([ca, pair]) => ({ ca, ...pair })) : pulumi.output(caPem).apply(ca => ({ ca })),
    );
}

/**
 * A topology's CA with rotation: generation 0 is `<name>-ca`, generation g `<name>-ca-g<g>` (also its common name, so
 * the two CAs of a bundle never share a subject), so raising the generation makes a new CA, and through it new node
 * and client certificates, and deletes the old one. `bundle` is what nodes and clients trust: the new CA and, until
 * the next `pulumi up` after `graceHours`, the previous one (CaTrust keeps its certificate).
 */
export function rotatingCa(
    name: string,
    field: string,
    rotation: CaRotation | undefined,
    opts: pulumi.ComponentResourceOptions,
): { ca: CertificateAuthority; bundle: pulumi.Output<string> } {
    const { generation, graceHours } = caRotation(field, rotation);
    const ca = new CertificateAuthority(generation === 0 ? `${name}-ca` : `${name}-ca-g${generation}`, {}, opts);
    const trust = new CaTrust(`${name}-ca-trust`, { caPem: ca.certPem, graceHours }, opts);
    return { ca, bundle: trust.bundle };
}
