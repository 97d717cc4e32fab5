// The application side of rotation-certs.test.ts, in a process of its own (as an application is): the test's own
// process runs the Pulumi program in-process, whose work (serializing the dynamic providers, reading states) can
// hold its event loop for seconds, which would show as command timeouts that no server caused. Reads a JSON spec
// (argv[2]), connects once with the first CA and client certificates, prints "ready", then writes and reads back
// continuously (SET + WAIT 1 pipelined, then GET) on the cluster and on the chain's head while sampling every
// replica's master_link_status and every cluster node's cluster_state every 200 ms, until a line on stdin; then
// writes its tally as JSON to argv[3] and exits.
import * as fs from "fs";
import Redis, { Cluster } from "ioredis";
import { connect } from "../../components/client";
import * as wire from "../../components/redis/wire";
import { WRITER_CLIENT } from "./chaos-writer";

export interface LoadSpec {
    cluster: { nodes: { ip: string; port: number }[]; tls: wire.TlsMaterial; app: wire.Auth };
    head: { host: string; port: number; tls: wire.TlsMaterial; app: wire.Auth };
    replicas: { name: string; ep: wire.Endpoint; o: wire.ConnectOptions }[];
    clusterNodes: { name: string; ep: wire.Endpoint; o: wire.ConnectOptions }[];
}
export interface LoadTally {
    kind: string;
    writes: number;
    acked: number;
    failed: number;
    errors: string[];
    keys: string[];
    failedAt: number[];
}
export interface LoadResult {
    tallies: LoadTally[];
    samples: number;
    linkDown: string[];
    clusterNotOk: string[];
    samplerError?: string;
}

/** Hard bounds: at most this long, this many writes per client. */
const DEADLINE_MS = 300_000;
const MAX_WRITES = 30_000;
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
const t0 = Date.now();

function load(kind: string, client: Cluster | Redis, stopped: () => boolean): Promise<LoadTally> {
    const t: LoadTally = { kind, writes: 0, acked: 0, failed: 0, errors: [], keys: [], failedAt: [] };
    return (async () => {
        for (let i = 0; !stopped() && i < MAX_WRITES && Date.now() - t0 < DEADLINE_MS; i++) {
            const key = `{rot${i % 64}}:${kind}:${i}`;
            t.writes++;
            try {
                const [[setErr, set] = [], [waitErr, replicas] = []] =
                    (await client.pipeline().set(key, `v${i}`).call("WAIT", "1", "1000").exec()) ?? [];
                if (setErr || waitErr) throw setErr ?? waitErr;
                if (set !== "OK") throw new Error("SET did not answer OK");
                if (Number(replicas) >= 1) {
                    t.acked++;
                    t.keys.push(key);
                }
                if ((await client.get(key)) !== `v${i}`) throw new Error(`GET ${key} did not read its write`);
            } catch (e) {
                t.failed++;
                t.failedAt.push(Date.now() - t0);
                const m = (e as Error).message.slice(0, 80);
                if (!t.errors.includes(m)) t.errors.push(m);
            }
            await sleep(5);
        }
        return t;
    })();
}

async function main(spec: LoadSpec, resultFile: string): Promise<void> {
    const app = await connect({ kind: "cluster", nodes: spec.cluster.nodes, tls: spec.cluster.tls, ...spec.cluster.app }, WRITER_CLIENT);
    const head = await connect(
        { kind: "node", host: spec.head.host, port: spec.head.port, tls: spec.head.tls, ...spec.head.app },
        WRITER_CLIENT,
    );
    const samplers = await Promise.all(spec.replicas.map(async r => ({ ...r, c: await wire.connect(r.ep, r.o) })));
    const nodes = await Promise.all(spec.clusterNodes.map(async r => ({ ...r, c: await wire.connect(r.ep, r.o) })));
    let stop = false;
    const result: LoadResult = { tallies: [], samples: 0, linkDown: [], clusterNotOk: [] };
    const loads = [load("cluster", app, () => stop), load("chain", head, () => stop)];
    const sampler = (async () => {
        while (!stop && Date.now() - t0 < DEADLINE_MS) {
            for (const s of samplers) {
                const link = (await wire.info(s.c, "replication")).master_link_status;
                if (link !== "up") result.linkDown.push(`${s.name}: ${link} at ${Date.now() - t0} ms`);
            }
            for (const n of nodes) {
                const state = (await wire.clusterInfo(n.c)).cluster_state;
                if (state !== "ok") result.clusterNotOk.push(`${n.name}: ${state} at ${Date.now() - t0} ms`);
            }
            result.samples++;
            await sleep(200);
        }
    })().catch(e => {
        result.samplerError = (e as Error).message;
    });
    process.stdout.write("ready\n");
    await new Promise<void>(r => process.stdin.once("data", () => r()));
    stop = true;
    result.tallies = await Promise.all(loads);
    await sampler;
    for (const s of [...samplers, ...nodes]) await wire.close(s.c);
    app.disconnect();
    head.disconnect();
    // To a file: a large write to a pipe may not be flushed before process.exit.
    fs.writeFileSync(resultFile, JSON.stringify(result));
}

if (require.main === module) {
    main(JSON.parse(fs.readFileSync(process.argv[2], "utf8")), process.argv[3]).then(
        () => process.exit(0),
        e => {
            console.error(e);
            process.exit(1);
        },
    );
}
