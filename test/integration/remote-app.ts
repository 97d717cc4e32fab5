// An application on a test host: a child process in test host hN's network namespace (nsenter), so its 127.0.0.1 is
// that host's loopback, where a ClusterGateway on hN's engine publishes its listeners. It holds one connect() cluster
// client made from the gateway's outputs and runs what the test asks over the IPC channel: commands, the redirects it
// was handed, its slot map, and a bounded load (SET then GET of each key) whose failures it counts.
import { fork, ChildProcess } from "child_process";
import type { Cluster } from "ioredis";
import * as path from "path";
import type { ClientOptions, ClusterTarget } from "../../components/client";

export interface LoadReport {
    /** SET+GET pairs run, how many commands failed, and what the first few failures said. */
    pairs: number;
    failed: number;
    wrongReads: number;
    errors: string[];
    /** The longest time between two successful pairs (ms), and when the first and last failure happened (ms from start). */
    longestGapMs: number;
    firstFailureMs?: number;
    lastFailureMs?: number;
    /** Every key the load acknowledged a SET of, with the value it wrote last. */
    written: Record<string, string>;
}

type Request =
    | { op: "connect"; target: ClusterTarget; options: ClientOptions }
    | { op: "call"; args: (string | number)[] }
    | { op: "redirects" }
    | { op: "slotOwner"; slot: number }
    | { op: "addresses" }
    | { op: "load"; keys: string[]; maxPairs: number; pauseMs: number }
    | { op: "stopLoad" }
    | { op: "quit" };

/** The test's side: ask() sends one request and resolves with its answer (or rejects with the child's error). */
export class RemoteApp {
    private next = 0;
    private readonly pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();

    private constructor(private readonly child: ChildProcess) {
        child.on("message", (m: { id: number; ok: boolean; value?: unknown; error?: string }) => {
            const p = this.pending.get(m.id);
            this.pending.delete(m.id);
            if (m.ok) p?.resolve(m.value);
            else p?.reject(new Error(m.error));
        });
        child.on("exit", code => {
            for (const p of this.pending.values()) p.reject(new Error(`the application on the test host exited (${code})`));
            this.pending.clear();
        });
    }

    /** Starts the child in test host `host`'s network namespace and connects its client to `target`. */
    static async start(host: string, target: ClusterTarget, options: ClientOptions): Promise<RemoteApp> {
        const child = fork(__filename, [], {
            execPath: "nsenter",
            execArgv: [`--net=/run/netns/rst-${host}`, process.execPath, "-r", "ts-node/register/transpile-only"],
            cwd: path.resolve(__dirname, "../.."),
            stdio: ["ignore", "inherit", "inherit", "ipc"],
        });
        const app = new RemoteApp(child);
        try {
            await app.ask({ op: "connect", target, options });
        } catch (e) {
            child.kill();
            throw e;
        }
        return app;
    }

    private ask<T>(r: Request): Promise<T> {
        const id = this.next++;
        return new Promise<T>((resolve, reject) => {
            this.pending.set(id, { resolve, reject });
            this.child.send({ id, ...r });
        });
    }

    call(...args: (string | number)[]): Promise<unknown> {
        return this.ask({ op: "call", args });
    }
    /** The MOVED/ASK errors the client was handed since the last call, as Redis sent them. */
    redirects(): Promise<string[]> {
        return this.ask({ op: "redirects" });
    }
    /** The address the client's slot map sends `slot` to. */
    slotOwner(slot: number): Promise<string> {
        return this.ask({ op: "slotOwner", slot });
    }
    /** Every address the client holds a connection object for. */
    addresses(): Promise<string[]> {
        return this.ask({ op: "addresses" });
    }
    /** Starts a load over `keys` (at most `maxPairs` SET+GET pairs) running until stopLoad(). */
    startLoad(keys: string[], maxPairs: number, pauseMs = 5): Promise<void> {
        return this.ask({ op: "load", keys, maxPairs, pauseMs });
    }
    stopLoad(): Promise<LoadReport> {
        return this.ask({ op: "stopLoad" });
    }

    async quit(): Promise<void> {
        if (this.child.exitCode !== null) return;
        const exited = new Promise(done => this.child.once("exit", done));
        await this.ask({ op: "quit" }).catch(() => undefined);
        await Promise.race([exited, new Promise(done => setTimeout(done, 5000))]);
        this.child.kill();
    }
}

// --- the child ----------------------------------------------------------------------------------------------------
async function child(): Promise<void> {
    const { connect } = await import("../../components/client");
    let app: Cluster | undefined;
    let redirects: string[] = [];
    let load: { stop: boolean; done: Promise<LoadReport> } | undefined;

    const runLoad = async (keys: string[], maxPairs: number, pauseMs: number, state: { stop: boolean }): Promise<LoadReport> => {
        const t0 = Date.now();
        const r: LoadReport = { pairs: 0, failed: 0, wrongReads: 0, errors: [], longestGapMs: 0, written: {} };
        let lastOk = t0;
        const fail = (e: Error) => {
            r.failed++;
            r.firstFailureMs ??= Date.now() - t0;
            r.lastFailureMs = Date.now() - t0;
            if (r.errors.length < 5) r.errors.push(e.message);
        };
        while (!state.stop && r.pairs < maxPairs) {
            const key = keys[r.pairs % keys.length];
            const value = `v${r.pairs}`;
            r.pairs++;
            let ok = true;
            try {
                await app!.set(key, value);
                r.written[key] = value;
            } catch (e) {
                ok = false;
                fail(e as Error);
            }
            try {
                const got = await app!.get(key);
                if (ok && got !== value) {
                    r.wrongReads++;
                    ok = false;
                }
            } catch (e) {
                ok = false;
                fail(e as Error);
            }
            if (ok) {
                r.longestGapMs = Math.max(r.longestGapMs, Date.now() - lastOk);
                lastOk = Date.now();
            }
            await new Promise(done => setTimeout(done, pauseMs));
        }
        r.longestGapMs = Math.max(r.longestGapMs, Date.now() - lastOk);
        return r;
    };

    const handle = async (m: Request): Promise<unknown> => {
        switch (m.op) {
            case "connect": {
                app = await connect(m.target, m.options);
                // Every redirect the client is handed, as Redis sent it (ioredis routes MOVED/ASK, and closed
                // connections, through handleError).
                const h = (app as any).handleError.bind(app);
                (app as any).handleError = (e: Error, ...rest: unknown[]) => {
                    if (/^(MOVED|ASK) /.test(e.message)) redirects.push(e.message);
                    return h(e, ...rest);
                };
                return null;
            }
            case "call":
                return app!.call(String(m.args[0]), ...m.args.slice(1));
            case "redirects": {
                const r = redirects;
                redirects = [];
                return r;
            }
            case "slotOwner":
                return (app as any).slots[m.slot]?.[0];
            case "addresses":
                return app!.nodes("all").map(n => `${n.options.host}:${n.options.port}`);
            case "load": {
                const state = { stop: false };
                load = {
                    get stop() {
                        return state.stop;
                    },
                    set stop(v) {
                        state.stop = v;
                    },
                    done: runLoad(m.keys, m.maxPairs, m.pauseMs, state),
                };
                return null;
            }
            case "stopLoad": {
                if (!load) throw new Error("no load running");
                load.stop = true;
                const r = await load.done;
                load = undefined;
                return r;
            }
            case "quit":
                app?.disconnect();
                setImmediate(() => process.exit(0));
                return null;
        }
    };
    process.on("message", (m: Request & { id: number }) => {
        handle(m).then(
            value => process.send!({ id: m.id, ok: true, value }),
            (e: Error) => process.send!({ id: m.id, ok: false, error: e.message }),
        );
    });
    process.on("disconnect", () => process.exit(0));
}

if (require.main === module) void child();
