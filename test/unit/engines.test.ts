// engineAnswers and checkEngine against real sockets on this machine: an HTTP answer, a refused port, a missing
// socket, a listener that never answers, and ssh that cannot connect.
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { checkEngine, engineAnswers } from "../../components/cluster/engines";

/** A local server on a unix socket or TCP port that answers (or not) like an engine. */
async function server(reply: string | undefined, at: string | 0): Promise<{ address: string; close: () => void }> {
    const srv = net.createServer(s => {
        s.on("data", () => {
            if (reply !== undefined) s.end(reply);
        });
        s.on("error", () => {});
    });
    await new Promise<void>(r => srv.listen(at, r));
    const a = srv.address();
    return { address: typeof a === "string" ? `unix://${a}` : `tcp://127.0.0.1:${a!.port}`, close: () => srv.close() };
}

describe("does a Docker engine answer", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rst-engines-"));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    test.each([
        ["unix socket", path.join(dir, "ok.sock")],
        ["tcp port", 0],
    ] as const)("an HTTP answer on a %s: yes", async (_, at) => {
        const s = await server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK", at);
        await expect(engineAnswers(s.address)).resolves.toBeUndefined();
        s.close();
    });

    test("a TLS engine answering a plain request with an HTTP error still answers", async () => {
        const s = await server("HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n", 0);
        await expect(engineAnswers(s.address)).resolves.toBeUndefined();
        s.close();
    });

    test("something else on the port, or nothing: no", async () => {
        const s = await server("SSH-2.0-OpenSSH_9.2\r\n", 0);
        await expect(engineAnswers(s.address)).rejects.toThrow(/^it replied "SSH-2.0-OpenSSH_9.2\\r\\n"$/);
        s.close();
        await expect(engineAnswers(`unix://${dir}/none.sock`)).rejects.toThrow(/ENOENT/);
        await expect(engineAnswers(s.address)).rejects.toThrow(/ECONNREFUSED/);
    });

    test("a listener that never answers: no, after the timeout", async () => {
        const s = await server(undefined, 0);
        await expect(engineAnswers(s.address, 300)).rejects.toThrow(/^no answer within 0.3 s$/);
        s.close();
    });

    test("ssh that cannot reach its host: no, with ssh's own reason", async () => {
        await expect(engineAnswers("ssh://nobody@127.0.0.1:1", 5000)).rejects.toThrow(/port 1: Connection refused/);
    });

    test("checkEngine names the field, the host, the address and what to check", async () => {
        await expect(checkEngine("hosts[1].dockerHost", "b", `unix://${dir}/gone.sock`)).rejects.toThrow(
            new RegExp(
                `^hosts\\[1\\]\\.dockerHost must be a Docker engine that answers; host "b" at unix://${dir}/gone.sock did not \\(connect ENOENT .*\\)\\. ` +
                    "Check the address, that dockerd runs there and listens on it, and that this machine reaches it$",
            ),
        );
        await expect(checkEngine("hosts[0].dockerHost", "a", "ssh://nobody@127.0.0.1:1")).rejects.toThrow(
            /for ssh:\/\/: `ssh HOST docker version` works without a prompt/,
        );
    });
});
