// spiped command lines and argument checks, as pure functions.
import * as v from "../validate";

export const KEY_DIR = "/etc/spiped";
export const KEY_FILE = `${KEY_DIR}/key`;
/** spiped runs as this user of the image, which owns its key file (0600). */
export const SPIPED_USER = "nobody:nogroup";
/** The key's strength in bytes of entropy (spiped's own advice: 32 random bytes). */
export const KEY_BYTES = 32;
/** The key file: this many random letters and digits (log2(62) = 5.95 bits each: 381 bits, well over KEY_BYTES). */
export const KEY_CHARS = 64;

export interface TunnelShape {
    name: string;
    targetHost: string;
    targetPort: number;
    /** Port the server side listens on (encrypted traffic), inside the Docker network. */
    serverPort: number;
    /** Host address and port the client side publishes (plain traffic for local applications). */
    listenAddress: string;
    listenPort: number;
    /** Allow a client listener on a non-loopback address (plain text would leave the machine). */
    allowNonLoopbackListener: boolean;
    /** spiped -n: at most this many connections at once. */
    maxConnections: number;
    /** TCP keepalives on both sides (spiped -j turns them off). */
    keepalive: boolean;
    /** spiped -o: seconds to wait for a connection to the target. */
    connectTimeoutSeconds: number;
    keyBytes: number;
}

export function validateTunnel(s: TunnelShape): void {
    v.dnsLabel("name", s.name);
    if (typeof s.targetHost !== "string" || !/^[A-Za-z0-9.-]+$/.test(s.targetHost))
        v.fail("targetHost", "a host name or IPv4 address", s.targetHost);
    v.port("targetPort", s.targetPort);
    v.port("serverPort", s.serverPort);
    v.port("listenPort", s.listenPort);
    v.ipv4("listenAddress", s.listenAddress);
    v.flag("allowNonLoopbackListener", s.allowNonLoopbackListener);
    v.flag("keepalive", s.keepalive);
    v.loopbackListener("listenAddress", s.listenAddress, "allowNonLoopbackListener", s.allowNonLoopbackListener);
    v.intInRange("maxConnections", s.maxConnections, 1, 10000);
    v.intInRange("connectTimeoutSeconds", s.connectTimeoutSeconds, 1, 300);
    if (s.keyBytes !== KEY_BYTES) v.fail("keyBytes", `${KEY_BYTES} (spiped keys are 32 random bytes)`, s.keyBytes);
}

function common(s: TunnelShape): string[] {
    return [
        "-F",
        "-D",
        "-k",
        KEY_FILE,
        "-n",
        String(s.maxConnections),
        "-o",
        String(s.connectTimeoutSeconds),
        ...(s.keepalive ? [] : ["-j"]),
    ];
}

/** Server side: decrypts traffic on serverPort and forwards it to the Redis target. */
export function serverCommand(s: TunnelShape): string[] {
    return ["spiped", "-d", "-s", `[0.0.0.0]:${s.serverPort}`, "-t", `${s.targetHost}:${s.targetPort}`, ...common(s)];
}

/** Client side: accepts plain connections and encrypts them to the server container. */
export function clientCommand(s: TunnelShape, serverHost: string): string[] {
    return ["spiped", "-e", "-s", `[0.0.0.0]:${s.listenPort}`, "-t", `${serverHost}:${s.serverPort}`, ...common(s)];
}
