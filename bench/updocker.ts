// `pulumi up` from empty to healthy, per topology, against a plain bash script that makes the same containers with
// `docker run`. "The same": the script is generated from what our first `up` made (`docker inspect` of every container
// and network, the files on each files volume), so flags, configs, networks, addresses and volumes are identical; only
// the certificates are new, made by openssl (same CA layout, SANs, P-256 keys), and the cluster is formed by
// `redis-cli --cluster create`. Both end on the same health probe (replication links up, cluster_state ok on every
// node, the tunnel answering), read from the containers' logs and sockets, so neither needs the other's secrets.
import { execFile } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { performance } from "perf_hooks";
import { clusterOutputs, RedisCluster, ReplicationChain, SpipedTunnel } from "../components";
import { TLS_DIR } from "../components/redis/conf";
import * as wire from "../components/redis/wire";
import { docker, dockerAsync, Scope } from "../test/integration/harness";
import { plainOutputs, testStack } from "../test/integration/deploy";
import { median } from "./common";

export type Topology = "chain" | "tunnel" | "cluster";
const TUNNEL_PORT = 16392;

interface Expect {
    replicas: number;
    clusterNodes: number;
    tunnelPort?: number;
}
const EXPECT: Record<Topology, Expect> = {
    chain: { replicas: 2, clusterNodes: 0 },
    tunnel: { replicas: 2, clusterNodes: 0, tunnelPort: TUNNEL_PORT },
    cluster: { replicas: 3, clusterNodes: 6 },
};

function program(t: Topology, subnets: string[]): () => Promise<Record<string, unknown>> {
    return async () => {
        if (t === "cluster") {
            const c = new RedisCluster("bncl", {
                masters: 3,
                replicasPerMaster: 1,
                antiAffinity: "soft",
                subnet: subnets[0],
                maxmemory: "32mb",
            });
            return { cluster: clusterOutputs(c) };
        }
        const chain = new ReplicationChain(t === "chain" ? "bnch" : "bntn", { subnet: subnets[0], maxmemory: "32mb" });
        if (t === "chain") return { nodes: chain.nodes };
        const head = chain.nodes[0];
        const tunnel = new SpipedTunnel("bntn-tunnel", {
            networkName: chain.networkName,
            targetHost: head.name,
            targetPort: head.plainPort || head.tlsPort,
            listenPort: TUNNEL_PORT,
            subnet: subnets[1],
        });
        return { nodes: chain.nodes, port: tunnel.listenPort };
    };
}

// --- the health probe both contenders end on ----------------------------------------------------------------------
async function logsOf(names: string[]): Promise<string[]> {
    return Promise.all(names.map(n => dockerAsync(["logs", n], {}).catch(() => "")));
}
/** dockerAsync drops stderr on success; redis logs to stdout, which is what we read. */
function answers(port: number): Promise<boolean> {
    return new Promise(resolve => {
        const s = net.connect(port, "127.0.0.1");
        const done = (ok: boolean) => {
            s.destroy();
            resolve(ok);
        };
        s.setTimeout(1000, () => done(false));
        s.on("error", () => done(false));
        s.on("connect", () => s.write("PING\r\n"));
        s.on("data", d => done(/^(\+PONG|-NOAUTH)/.test(d.toString())));
    });
}
async function healthy(label: string, e: Expect): Promise<void> {
    await wire.waitUntil(
        "the topology to be healthy",
        async () => {
            const names = docker("ps", "--filter", `label=${label}`, "--format", "{{.Names}}")
                .split("\n")
                .filter(n => n && !n.endsWith("-files"));
            const logs = await logsOf(names);
            const synced = logs.filter(l => l.includes("MASTER <-> REPLICA sync: Finished with success")).length;
            const ok = logs.filter(l => l.lastIndexOf("Cluster state changed: ok") > l.lastIndexOf("Cluster state changed: fail")).length;
            return synced >= e.replicas && ok >= e.clusterNodes && (e.tunnelPort === undefined || (await answers(e.tunnelPort)));
        },
        180_000,
        200,
    );
}

// --- what our `up` made, as a script ------------------------------------------------------------------------------
interface Captured {
    script: string;
    stage: string;
    adminPassword?: string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const sh = (args: string[]) => args.map(q).join(" ");

function run(cmd: string, args: string[], input?: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const p = execFile(cmd, args, { encoding: "buffer", maxBuffer: 64 << 20, timeout: 120_000 }, (e, out, err) =>
            e ? reject(new Error(`${cmd} ${args.join(" ")}: ${err.toString().slice(-300)}`)) : resolve(out),
        );
        if (input) p.stdin!.end(input);
    });
}

function walk(dir: string): string[] {
    return fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap(d => (d.isDirectory() ? walk(path.join(dir, d.name)) : [path.join(dir, d.name)]));
}

/** docker run flags reproducing one inspected container (what the docker provider sets for ours). */
export function createArgs(c: any, image: any, scriptLabel: string): string[] {
    const hc = c.HostConfig,
        cfg = c.Config;
    const a: string[] = ["create", "--name", c.Name.replace(/^\//, ""), "--label", scriptLabel];
    if (JSON.stringify(cfg.Entrypoint ?? null) !== JSON.stringify(image.Config.Entrypoint ?? null))
        throw new Error(`${c.Name}: its entrypoint differs from the image's (not reproduced)`);
    if (cfg.User) a.push("--user", cfg.User);
    for (const e of cfg.Env ?? []) if (!(image.Config.Env ?? []).includes(e)) a.push("-e", e);
    for (const [k, v] of Object.entries(cfg.Labels ?? {}))
        if (!k.startsWith("rst-test") && (image.Config.Labels ?? {})[k] !== v) a.push("--label", `${k}=${v}`);
    for (const x of hc.CapDrop ?? []) a.push("--cap-drop", x);
    for (const x of hc.CapAdd ?? []) a.push("--cap-add", x);
    for (const x of hc.SecurityOpt ?? []) a.push("--security-opt", x);
    if (hc.ReadonlyRootfs) a.push("--read-only");
    for (const [p, o] of Object.entries(hc.Tmpfs ?? {})) a.push("--tmpfs", o ? `${p}:${o}` : p);
    if (hc.RestartPolicy?.Name && hc.RestartPolicy.Name !== "no")
        a.push(
            "--restart",
            hc.RestartPolicy.Name === "on-failure" ? `on-failure:${hc.RestartPolicy.MaximumRetryCount}` : hc.RestartPolicy.Name,
        );
    if (hc.LogConfig?.Type) a.push("--log-driver", hc.LogConfig.Type);
    for (const [k, v] of Object.entries(hc.LogConfig?.Config ?? {})) a.push("--log-opt", `${k}=${v}`);
    for (const [cp, binds] of Object.entries(hc.PortBindings ?? {}))
        for (const b of binds as any[]) a.push("-p", `${b.HostIp ? `${b.HostIp}:` : ""}${b.HostPort}:${cp}`);
    if (hc.Memory) a.push("--memory", String(hc.Memory));
    if (hc.MemorySwap) a.push("--memory-swap", String(hc.MemorySwap));
    if (hc.NanoCpus) a.push("--cpus", String(hc.NanoCpus / 1e9));
    if (hc.PidsLimit) a.push("--pids-limit", String(hc.PidsLimit));
    for (const u of hc.Ulimits ?? []) a.push("--ulimit", `${u.Name}=${u.Soft}:${u.Hard}`);
    for (const [k, v] of Object.entries(hc.Sysctls ?? {})) a.push("--sysctl", `${k}=${v}`);
    if (hc.Init) a.push("--init");
    if (cfg.StopSignal && cfg.StopSignal !== image.Config.StopSignal) a.push("--stop-signal", cfg.StopSignal);
    if (cfg.StopTimeout !== undefined && cfg.StopTimeout !== null) a.push("--stop-timeout", String(cfg.StopTimeout));
    if (cfg.WorkingDir && cfg.WorkingDir !== image.Config.WorkingDir) a.push("--workdir", cfg.WorkingDir);
    if (cfg.Healthcheck?.Test) throw new Error(`${c.Name}: a healthcheck is not reproduced`);
    for (const m of c.Mounts ?? []) {
        if (m.Type === "volume") a.push("-v", `${m.Name}:${m.Destination}${m.RW ? "" : ":ro"}`);
        else if (m.Type === "bind") a.push("-v", `${m.Source}:${m.Destination}${m.RW ? "" : ":ro"}`);
    }
    const nets = Object.entries(c.NetworkSettings.Networks ?? {}) as [string, any][];
    const netArgs = (n: any) => [
        ...(n.IPAMConfig?.IPv4Address ? ["--ip", n.IPAMConfig.IPv4Address] : []),
        ...(n.Aliases ?? []).filter((x: string) => !c.Id.startsWith(x)).flatMap((x: string) => ["--network-alias", x]),
    ];
    if (nets.length) a.push("--network", nets[0][0], ...netArgs(nets[0][1]));
    a.push(cfg.Image, ...(cfg.Cmd ?? []));
    return a;
}

/** After our `up`: the script that makes the same networks, volumes and containers (certificates new, by openssl). */
async function capture(scope: Scope, t: Topology, outputs: Record<string, any>, dir: string): Promise<Captured> {
    const stage = path.join(dir, "stage");
    fs.mkdirSync(stage, { recursive: true });
    const ids = docker("ps", "-aq", "--filter", `label=${scope.label}`).split("\n").filter(Boolean);
    const all = JSON.parse(docker("inspect", ...ids)) as any[];
    const writers = new Set(all.filter(c => c.Name.endsWith("-files")).map(c => c.Id));
    const services = all.filter(c => !writers.has(c.Id));
    const images = new Map<string, any>();
    for (const c of services)
        if (!images.has(c.Config.Image)) images.set(c.Config.Image, JSON.parse(docker("image", "inspect", c.Config.Image))[0]);
    const nets = JSON.parse(
        docker("network", "inspect", ...docker("network", "ls", "-q", "--filter", `label=${scope.label}`).split("\n").filter(Boolean)),
    ) as any[];
    const L = "$BN_LABEL";
    const lines: string[] = [
        "#!/usr/bin/env bash",
        "# Generated by bench/updocker.ts from `docker inspect` of what `pulumi up` made.",
        "set -euo pipefail",
        `cd ${q(stage)}`,
    ];

    // Files volumes (mounted read-only): their content as our writers left it, owners and modes kept.
    const image = services[0].Config.Image;
    const volSetup = new Map<string, string[]>(); // container -> writer shell lines
    for (const c of services) {
        const cmds: string[] = [];
        for (const m of (c.Mounts ?? []).filter((m: any) => m.Type === "volume")) {
            if (!m.RW) {
                const tar = await run("docker", ["run", "--rm", "-v", `${m.Name}:/x:ro`, image, "tar", "-C", "/x", "-cf", "-", "."]);
                fs.mkdirSync(path.join(stage, m.Name), { recursive: true });
                await run("tar", ["-C", path.join(stage, m.Name), "--numeric-owner", "-xpf", "-"], tar);
                cmds.push(`cp -a /src/${m.Name}/. /v/${m.Name}/`);
            } else {
                const owner = (await run("docker", ["run", "--rm", "-v", `${m.Name}:/x`, image, "stat", "-c", "%u:%g", "/x"]))
                    .toString()
                    .trim();
                cmds.push(`chown ${owner} /v/${m.Name}`);
            }
        }
        volSetup.set(c.Id, cmds);
    }

    // Certificates: one openssl CA per CA of ours, a fresh key and certificate (same SANs) in place of each of ours.
    const pems = walk(stage).filter(f => fs.readFileSync(f, "utf8").startsWith("-----BEGIN"));
    const certs = pems
        .filter(f => fs.readFileSync(f, "utf8").includes("CERTIFICATE"))
        .map(f => ({ f, x: new crypto.X509Certificate(fs.readFileSync(f)) }));
    const keys = pems
        .filter(f => fs.readFileSync(f, "utf8").includes("PRIVATE KEY"))
        .map(f => ({ f, pub: crypto.createPublicKey(fs.readFileSync(f, "utf8")).export({ type: "spki", format: "der" }).toString("hex") }));
    const cas = [...new Set(certs.filter(c => c.x.ca).map(c => c.x.fingerprint256))];
    lines.push("# certificates (openssl, P-256, valid 1 day)");
    cas.forEach((fp, i) =>
        lines.push(
            `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca${i}.key -out ca${i}.crt -subj "/CN=bn-ca${i}" -days 1 ` +
                `-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null`,
        ),
    );
    for (const c of certs) {
        const rel = q(path.relative(stage, c.f));
        if (c.x.ca) {
            lines.push(`cat ca${cas.indexOf(c.x.fingerprint256)}.crt > ${rel}`);
            continue;
        }
        const issuer = cas.findIndex(fp => certs.find(x => x.x.fingerprint256 === fp)!.x.subject === c.x.issuer);
        const pub = c.x.publicKey.export({ type: "spki", format: "der" }).toString("hex");
        const key = keys.find(k => k.pub === pub);
        if (!key || issuer < 0) throw new Error(`${c.f}: no matching key or CA in the files`);
        const san = (c.x.subjectAltName ?? "").replace(/IP Address:/g, "IP:");
        const cn = /CN=([^\n]+)/.exec(c.x.subject)?.[1] ?? "bn";
        lines.push(
            `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ${q(path.relative(stage, key.f))} -subj ${q(`/CN=${cn}`)} 2>/dev/null | ` +
                `openssl x509 -req -CA ca${issuer}.crt -CAkey ca${issuer}.key -CAcreateserial -days 1 -out ${rel} ` +
                `-extfile <(printf '%s\\n' ${q(`subjectAltName=${san}`)} "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth,clientAuth") 2>/dev/null`,
        );
    }

    lines.push("# networks");
    for (const n of nets) {
        lines.push(
            sh(["docker", "network", "create", "--subnet", n.IPAM.Config[0].Subnet, ...(n.Internal ? ["--internal"] : []), n.Name]).replace(
                /^/,
                "",
            ) + ` --label "${L}" >/dev/null`,
        );
    }
    lines.push("# containers, each with its volumes and files, all at once");
    lines.push("pids=()");
    for (const c of services) {
        const name = c.Name.replace(/^\//, "");
        const vols = (c.Mounts ?? []).filter((m: any) => m.Type === "volume");
        const block = [
            ...vols.map((m: any) => `docker volume create --label "${L}" ${q(m.Name)} >/dev/null`),
            ...(vols.length
                ? [
                      `docker run --rm --user 0:0 --label "${L}" -v "$PWD:/src:ro" ${vols.map((m: any) => `-v ${q(`${m.Name}:/v/${m.Name}`)}`).join(" ")} ${q(image)} sh -ec ${q(volSetup.get(c.Id)!.join("; "))}`,
                  ]
                : []),
            `docker ${sh(createArgs(c, images.get(c.Config.Image), "bn-script=1")).replace("'bn-script=1'", `"${L}"`)} >/dev/null`,
            ...(Object.entries(c.NetworkSettings.Networks ?? {}) as [string, any][])
                .slice(1)
                .map(([n, x]) =>
                    sh([
                        "docker",
                        "network",
                        "connect",
                        ...(x.IPAMConfig?.IPv4Address ? ["--ip", x.IPAMConfig.IPv4Address] : []),
                        ...(x.Aliases ?? []).filter((a: string) => !c.Id.startsWith(a)).flatMap((a: string) => ["--alias", a]),
                        n,
                        name,
                    ]),
                ),
            `docker start ${q(name)} >/dev/null`,
        ];
        lines.push(`( ${block.join(" && ")} ) & pids+=($!)`);
    }
    lines.push(`for p in "\${pids[@]}"; do wait "$p"; done`);

    let adminPassword: string | undefined;
    if (t === "cluster") {
        const nodes = outputs.cluster.nodes as { name: string; ip: string; port: number }[];
        adminPassword = outputs.cluster.adminUser.password;
        const m0 = nodes[0].name;
        lines.push("# every node answering, then redis-cli forms the cluster");
        lines.push(
            `for n in ${nodes.map(n => q(n.name)).join(" ")}; do until docker exec "$n" redis-cli --tls --cacert ${TLS_DIR}/ca.crt -p ${nodes[0].port} ping 2>&1 | grep -qE "PONG|NOAUTH"; do sleep 0.1; done; done`,
        );
        lines.push(
            `docker exec -e REDISCLI_AUTH ${q(m0)} redis-cli --tls --cacert ${TLS_DIR}/ca.crt --user ${q(outputs.cluster.adminUser.username)} --cluster create ` +
                `${nodes.map(n => `${n.ip}:${n.port}`).join(" ")} --cluster-replicas 1 --cluster-yes >/dev/null`,
        );
    }
    const script = path.join(dir, "up.sh");
    fs.writeFileSync(script, lines.join("\n") + "\n", { mode: 0o700 });
    return { script, stage, adminPassword };
}

// --- the comparison -------------------------------------------------------------------------------------------------
export interface UpRow {
    topology: Topology;
    ours: number;
    script: number;
    oursRuns: number[];
    scriptRuns: number[];
    resources: number;
    containers: number;
}

async function removeLabelled(label: string): Promise<void> {
    const ids = docker("ps", "-aq", "--filter", `label=${label}`).split("\n").filter(Boolean);
    if (ids.length) await dockerAsync(["rm", "-f", ...ids]);
    const vols = docker("volume", "ls", "-q", "--filter", `label=${label}`).split("\n").filter(Boolean);
    if (vols.length) await dockerAsync(["volume", "rm", "-f", ...vols]);
    const nets = docker("network", "ls", "-q", "--filter", `label=${label}`).split("\n").filter(Boolean);
    if (nets.length) await dockerAsync(["network", "rm", ...nets]);
}

/** Per topology: ours (first run captured), script, script, ours, ... (`reps` each), medians; everything removed after each run. */
export async function benchUpVsDocker(
    subnets: string[],
    topologies: Topology[],
    reps: number,
    scopes: Set<Scope>,
    log: (s: string) => void,
): Promise<UpRow[]> {
    const rows: UpRow[] = [];
    for (const t of topologies) {
        const scope = new Scope();
        scopes.add(scope);
        const scriptLabel = `bn-script=${scope.label.split("=")[1]}`;
        const stack = await testStack(scope, `bnup-${t}`, program(t, subnets));
        let captured: Captured | undefined;
        const oursRuns: number[] = [],
            scriptRuns: number[] = [];
        let resources = NaN,
            containers = 0;
        const ours = async () => {
            const t0 = performance.now();
            const r = await stack.up();
            await healthy(scope.label, EXPECT[t]);
            const ms = performance.now() - t0;
            resources = r.summary.resourceChanges?.create ?? NaN;
            if (!captured) {
                captured = await capture(scope, t, plainOutputs(r.outputs), path.join(scope.dir, "script"));
                containers = docker("ps", "-aq", "--filter", `label=${scope.label}`).split("\n").filter(Boolean).length;
            }
            await stack.destroy();
            return ms;
        };
        const script = async () => {
            const t0 = performance.now();
            try {
                await new Promise<void>((resolve, reject) =>
                    execFile(
                        "bash",
                        [captured!.script],
                        {
                            env: {
                                ...process.env,
                                BN_LABEL: scriptLabel,
                                ...(captured!.adminPassword ? { REDISCLI_AUTH: captured!.adminPassword } : {}),
                            },
                            timeout: 300_000,
                        },
                        (e, _o, err) => (e ? reject(new Error(`the docker run script failed: ${err.slice(-500)}`)) : resolve()),
                    ),
                );
                await healthy(scriptLabel, EXPECT[t]);
                return performance.now() - t0;
            } finally {
                await removeLabelled(scriptLabel);
            }
        };
        try {
            for (let i = 0; i < reps; i++) {
                for (const [who, f] of (i % 2
                    ? [
                          ["script", script],
                          ["ours", ours],
                      ]
                    : [
                          ["ours", ours],
                          ["script", script],
                      ]) as [string, () => Promise<number>][]) {
                    const ms = await f();
                    (who === "ours" ? oursRuns : scriptRuns).push(ms);
                    log(`  ${t}: ${who === "ours" ? "pulumi up" : "docker run script"} ${(ms / 1000).toFixed(2)} s`);
                }
            }
            rows.push({ topology: t, ours: median(oursRuns), script: median(scriptRuns), oursRuns, scriptRuns, resources, containers });
        } finally {
            await stack.destroy().catch(() => undefined);
            await removeLabelled(scriptLabel).catch(() => undefined);
            scope.cleanup();
            scopes.delete(scope);
        }
    }
    return rows;
}
