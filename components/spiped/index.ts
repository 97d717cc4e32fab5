// SpipedTunnel: a random key (@pulumi/random), a server container that decrypts and forwards to Redis, and a
// client container that listens (published on loopback by default) and encrypts. The key is a file on a read-only volume (filesVolume).
// The two ends talk over the tunnel's own network; only the server joins Redis's (internal) network.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { DEFAULT_IMAGE, engineImage, filesVolume, FILES_LABEL, lockedDown, READ_ONLY_ROOT } from "../redis/node";
import * as v from "../validate";
import { clientCommand, KEY_BYTES, KEY_CHARS, KEY_DIR, KEY_FILE, serverCommand, SPIPED_USER, TunnelShape, validateTunnel } from "./plan";

export { clientCommand, serverCommand, validateTunnel, TunnelShape, KEY_BYTES, KEY_CHARS } from "./plan";

/** The spiped ends' defaults, the same for a SpipedTunnel and each tunnel of a ClusterGateway. */
export const SPIPED_DEFAULTS = Object.freeze({
    serverPort: 8379,
    maxConnections: 100,
    keepalive: true,
    connectTimeoutSeconds: 5,
    keyRotation: "",
    image: DEFAULT_IMAGE,
} as const);

/** SpipedTunnel's defaults: what an unset field of SpipedTunnelArgs means (program.ts's stack config defaults use them too). */
export const TUNNEL_DEFAULTS = Object.freeze({
    ...SPIPED_DEFAULTS,
    subnet: "172.31.1.0/24",
    targetPort: 6379,
    listenAddress: "127.0.0.1",
    listenPort: 6390,
    allowNonLoopbackListener: false,
} as const);

export interface SpipedTunnelArgs {
    /** The Docker network the Redis target is on; only the server container joins it. */
    networkName: pulumi.Input<string>;
    /** The tunnel's own network, between the client and server ends (default "172.31.1.0/24"). */
    subnet?: string;
    /** The Redis target as seen from that network. */
    targetHost: string;
    targetPort?: number;
    serverPort?: number;
    /** Where applications connect (default 127.0.0.1:6390). */
    listenAddress?: string;
    listenPort?: number;
    allowNonLoopbackListener?: boolean;
    maxConnections?: number;
    keepalive?: boolean;
    connectTimeoutSeconds?: number;
    /** Change to rotate the key on the next `pulumi up` (both ends are replaced together). */
    keyRotation?: string;
    image?: string;
    provider?: docker.Provider;
}

/** Every check SpipedTunnel makes, as a pure function (a program can run it before creating anything). */
export function resolveTunnelArgs(name: string, args: Omit<SpipedTunnelArgs, "networkName">): { shape: TunnelShape; subnet: string } {
    const d = TUNNEL_DEFAULTS;
    const shape: TunnelShape = {
        name,
        targetHost: args.targetHost,
        targetPort: args.targetPort ?? d.targetPort,
        serverPort: args.serverPort ?? d.serverPort,
        listenAddress: args.listenAddress ?? d.listenAddress,
        listenPort: args.listenPort ?? d.listenPort,
        allowNonLoopbackListener: args.allowNonLoopbackListener ?? d.allowNonLoopbackListener,
        maxConnections: args.maxConnections ?? d.maxConnections,
        keepalive: args.keepalive ?? d.keepalive,
        connectTimeoutSeconds: args.connectTimeoutSeconds ?? d.connectTimeoutSeconds,
        keyBytes: KEY_BYTES,
    };
    validateTunnel(shape);
    if (args.image !== undefined) v.imageRef("image", args.image);
    return { shape, subnet: v.subnet("subnet", args.subnet ?? d.subnet).cidr };
}

export class SpipedTunnel extends pulumi.ComponentResource {
    /** Secret: the shared key file's content, base64. */
    readonly keyBase64: pulumi.Output<string>;
    readonly listenAddress: string;
    readonly listenPort: number;
    readonly serverName: string;
    readonly clientName: string;

    constructor(name: string, args: SpipedTunnelArgs, opts?: pulumi.ComponentResourceOptions) {
        super("redis-secure-topologies:spiped:SpipedTunnel", name, {}, opts);
        const { shape, subnet } = resolveTunnelArgs(name, args);
        // spiped uses the SHA-256 of its key file, so any content with 256+ bits of entropy is a key. Not RandomBytes:
        // its resource ID is the key itself, and IDs are stored in plain text in the state.
        const key = new random.RandomPassword(
            `${name}-key`,
            { length: KEY_CHARS, special: false, keepers: { rotation: args.keyRotation ?? TUNNEL_DEFAULTS.keyRotation } },
            { parent: this },
        );
        const keyBase64 = pulumi.secret(key.result.apply(k => Buffer.from(k).toString("base64")));
        // Fixed container names: a replacement can only start once the old container is gone.
        const child = { parent: this, provider: args.provider, deleteBeforeReplace: true };
        // Encrypted traffic crosses this network; Redis stays on its own, which the client end never joins.
        const tunnelNet = new docker.Network(`${name}-net`, { name: `${name}-net`, ipamConfigs: [{ subnet }] }, child);
        const image = engineImage(name, args.image ?? TUNNEL_DEFAULTS.image, { parent: this, provider: args.provider });
        this.serverName = `${name}-server`;
        this.clientName = `${name}-client`;
        const server = spipedEnd(
            this.serverName,
            {
                image,
                keyBase64,
                command: serverCommand(shape),
                networksAdvanced: [
                    { name: args.networkName, aliases: [this.serverName] },
                    { name: tunnelNet.name, aliases: [this.serverName] },
                ],
            },
            child,
        );
        spipedEnd(
            this.clientName,
            {
                image,
                keyBase64,
                command: clientCommand(shape, this.serverName),
                networksAdvanced: [{ name: tunnelNet.name, aliases: [this.clientName] }],
                ports: [{ internal: shape.listenPort, external: shape.listenPort, ip: shape.listenAddress }],
            },
            { ...child, dependsOn: [server] },
        );
        this.keyBase64 = keyBase64;
        this.listenAddress = shape.listenAddress;
        this.listenPort = shape.listenPort;
        this.registerOutputs({ keyBase64: this.keyBase64, listenAddress: this.listenAddress, listenPort: this.listenPort });
    }
}

/**
 * One spiped container (either end), as SpipedTunnel and ClusterGateway run them: as SPIPED_USER with no capability on a
 * read-only root, its key on a read-only volume of its own (filesVolume). spiped waits for open connections on
 * SIGTERM, and long-lived Redis connections would hold it until Docker's kill, so it is stopped with SIGINT instead.
 * The name is fixed, so a replacement starts only once the old container is gone (give `deleteBeforeReplace`).
 */
export function spipedEnd(
    name: string,
    a: {
        image: pulumi.Input<string>;
        keyBase64: pulumi.Input<string>;
        command: string[];
        networksAdvanced: docker.types.input.ContainerNetworksAdvanced[];
        ports?: docker.types.input.ContainerPort[];
    },
    opts: pulumi.CustomResourceOptions,
): docker.Container {
    const key = filesVolume(
        name,
        {
            image: a.image,
            dir: KEY_DIR,
            owner: SPIPED_USER,
            uploads: [{ file: KEY_FILE, contentBase64: a.keyBase64, permissions: "0600" }],
        },
        opts,
    );
    return new docker.Container(
        name,
        {
            name,
            image: a.image,
            command: a.command,
            networksAdvanced: a.networksAdvanced,
            ports: a.ports,
            volumes: [{ volumeName: key.volumeName, containerPath: KEY_DIR, readOnly: true }],
            labels: [{ label: FILES_LABEL, value: key.run }],
            user: SPIPED_USER,
            stopSignal: "SIGINT",
            stopTimeout: 2,
            destroyGraceSeconds: 2,
            restart: "unless-stopped",
            mustRun: true,
            ...READ_ONLY_ROOT,
            ...lockedDown(),
        },
        opts,
    );
}
