// Does each host's Docker engine answer? Asked before anything is created on it, so an unreachable `dockerHost` fails
// naming the host and its field instead of with the provider's "failed to connect to any docker daemon".
import { spawn } from "child_process";
import * as net from "net";
import * as v from "../validate";

/** How long an engine gets to answer `GET /_ping` (ssh:// includes the ssh handshake). */
export const ENGINE_ANSWER_MS = 10_000;
const PING = "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";

/**
 * Resolves when the engine at `dockerHost` (unix://, tcp:// or ssh://, as validate.dockerHost allows) answers an HTTP
 * request; rejects with the reason. ssh:// goes the way Docker's own client and the provider go: the system `ssh`
 * running `docker system dial-stdio` on the remote host, without prompting. A TLS engine on tcp:// answers a plain
 * request with an HTTP error, which still shows it is there.
 */
export function engineAnswers(dockerHost: string, timeoutMs = ENGINE_ANSWER_MS): Promise<void> {
    return new Promise((resolve, reject) => {
        let reply = "";
        const answered = () => /^HTTP\/1\.[01] \d{3}/.test(reply);
        let settled = false;
        const done = (err?: string) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            stop();
            if (answered()) resolve();
            else
                reject(
                    new Error(
                        err ?? (reply ? `it replied ${JSON.stringify(reply.slice(0, 80))}` : "it closed the connection without a reply"),
                    ),
                );
        };
        const timer = setTimeout(() => done(`no answer within ${timeoutMs / 1000} s`), timeoutMs);
        let stop = () => {};
        const url = new URL(dockerHost);
        if (url.protocol === "ssh:") {
            const args = [
                "-o",
                "BatchMode=yes",
                "-o",
                `ConnectTimeout=${Math.ceil(timeoutMs / 1000)}`,
                ...(url.port ? ["-p", url.port] : []),
                "--",
                url.username ? `${url.username}@${url.hostname}` : url.hostname,
                "docker",
                "system",
                "dial-stdio",
            ];
            const ssh = spawn("ssh", args, { stdio: ["pipe", "pipe", "pipe"] });
            let stderr = "";
            stop = () => ssh.kill();
            ssh.stdout.on("data", d => {
                reply += d;
                if (answered()) done();
            });
            ssh.stderr.on("data", d => {
                stderr += d;
            });
            ssh.on("error", e => done(`ssh: ${e.message}`));
            ssh.on("close", code => done(stderr.trim().split("\n").pop() || `ssh exited with ${code}`));
            ssh.stdin.on("error", () => {});
            ssh.stdin.end(PING);
            return;
        }
        const socket =
            url.protocol === "unix:" ? net.connect({ path: url.pathname }) : net.connect({ host: url.hostname, port: Number(url.port) });
        stop = () => socket.destroy();
        socket.on("connect", () => socket.write(PING));
        socket.on("data", d => {
            reply += d;
            if (answered()) done();
        });
        socket.on("error", e => done(e.message));
        socket.on("close", () => done());
    });
}

/** One probe per engine address per program run: the stack program checks first, the component again for free. */
const asked = new Map<string, Promise<void>>();

/** Rejects with a ValidationError naming `field` when the engine of host `name` does not answer. */
export function checkEngine(field: string, name: string, dockerHost: string): Promise<void> {
    if (!asked.has(dockerHost)) asked.set(dockerHost, engineAnswers(dockerHost));
    return asked.get(dockerHost)!.catch((e: Error) => {
        throw new v.ValidationError({
            field,
            allowed: "a Docker engine that answers",
            detail:
                `host ${JSON.stringify(name)} at ${dockerHost} did not (${e.message}). ` +
                "Check the address, that dockerd runs there and listens on it, and that this machine reaches it" +
                (dockerHost.startsWith("ssh:")
                    ? " (for ssh://: `ssh HOST docker version` works without a prompt, the key loaded in ssh-agent)"
                    : ""),
        });
    });
}

/** checkEngine for every host with a dockerHost, named as `hosts[i].dockerHost`. */
export async function checkEngines(hosts: { name: string; dockerHost?: string }[]): Promise<void> {
    await Promise.all(
        hosts.map((h, i) => (h.dockerHost === undefined ? undefined : checkEngine(`hosts[${i}].dockerHost`, h.name, h.dockerHost))),
    );
}
