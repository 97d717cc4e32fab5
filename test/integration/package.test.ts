// The package as users install it: `npm pack` of this repo (its prepack builds components/ first), the tarball's
// file list, then a separate Pulumi project that installs the tarball by its file name, as a user installs a release:
// its own Pulumi.yaml, package.json, tsconfig.json and a TypeScript program importing RedisCluster and SpipedTunnel
// by the package's name, run by the plain `pulumi` CLI (the Node language host type-checks it with the project's
// TypeScript against the shipped .d.ts). Then connect() from the installed client toolkit, the installed guard CLI
// through npx, and destroy. The project's resources are named `itpkg*` (the plain program carries no test label:
// scripts/clean-test-leftovers.sh removes them after a killed run).
import { execFile } from "child_process";
import * as fs from "fs";
import { createRequire } from "module";
import * as path from "path";
import { REPO, stackEnv } from "../../scripts/workspace";
import { docker, Scope } from "./harness";

jest.setTimeout(900_000);

const STACK = "itpkg";
const CONFIG = { clusterSubnet: "172.25.200.0/24", tunnelSubnet: "172.25.201.0/24", tunnelListenPort: "20420" };
const manifest = JSON.parse(fs.readFileSync(path.join(REPO, "package.json"), "utf8"));
const SDK = manifest.devDependencies["@pulumi/pulumi"];

/** Runs a command; resolves with its exit code and output (rejects with all of it when it fails, unless `check` is false). */
function run(
    file: string,
    args: string[],
    o: { cwd: string; env?: Record<string, string>; check?: boolean },
): Promise<{ code: number; stdout: string; out: string }> {
    return new Promise((resolve, reject) => {
        execFile(
            file,
            args,
            { cwd: o.cwd, env: { ...process.env, ...o.env }, timeout: 600_000, maxBuffer: 64 << 20 },
            (e, stdout, stderr) => {
                const r = { code: e ? Number(e.code ?? 1) : 0, stdout, out: `${stdout}\n${stderr}` };
                if (e && o.check !== false) reject(new Error(`${file} ${args.join(" ")} failed (${e.code}):\n${r.out}`));
                else resolve(r);
            },
        );
    });
}

/** npm, offline when the cache has everything (the registry is only asked for what it lacks). */
const npm = (cwd: string, ...args: string[]) => run("npm", [...args, "--prefer-offline", "--no-audit", "--no-fund"], { cwd });

/** What `pulumi new typescript` writes, depending on @pulumi/pulumi as `sdk` and on this package as `pkg`. */
function consumerProject(dir: string, sdk: string): string {
    fs.mkdirSync(dir, { recursive: true });
    const json = (file: string, value: unknown) => fs.writeFileSync(path.join(dir, file), `${JSON.stringify(value, null, 2)}\n`);
    json("package.json", {
        name: "itpkg-consumer",
        main: "index.ts",
        dependencies: { "@pulumi/pulumi": sdk },
        devDependencies: { "@types/node": manifest.devDependencies["@types/node"], typescript: manifest.devDependencies.typescript },
    });
    json("tsconfig.json", {
        compilerOptions: { strict: true, outDir: "bin", target: "es2020", module: "commonjs", moduleResolution: "node", sourceMap: true },
        files: ["index.ts"],
    });
    return dir;
}

const PROGRAM = `import * as pulumi from "@pulumi/pulumi";
import { RedisCluster, SpipedTunnel } from "redis-secure-topologies";

const config = new pulumi.Config();
// loopbackSans: clients of the tunnel below reach a node's TLS port at 127.0.0.1, so its certificate must name it.
const redis = new RedisCluster("itpkg", { antiAffinity: "soft", subnet: config.require("clusterSubnet"), maxmemory: "64mb", loopbackSans: true });
// spiped in front of the first master's TLS port, on this machine's loopback (the cluster's network is internal).
const tunnel = new SpipedTunnel("itpkg-tunnel", {
    networkName: "itpkg-net-local", targetHost: redis.nodes[0].name, targetPort: redis.nodes[0].port,
    subnet: config.require("tunnelSubnet"), listenPort: config.requireNumber("tunnelListenPort"),
}, { dependsOn: redis });

export const cluster = {
    nodes: redis.nodes, tls: redis.tls, caCertPem: redis.caCertPem, clientCertPem: redis.clientCertPem,
    clientKeyPem: redis.clientKeyPem, appUser: redis.appUser, adminUser: redis.adminUser,
};
export const tunnelEnd = { host: tunnel.listenAddress, port: tunnel.listenPort };
`;

/** Every copy of @pulumi/pulumi under the project's node_modules, relative to the project. */
function sdkCopies(project: string): string[] {
    const found: string[] = [];
    const walk = (dir: string): void => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true }).filter(e => e.isDirectory())) {
            const p = path.join(dir, e.name);
            if (p.endsWith(path.join("node_modules", "@pulumi", "pulumi"))) found.push(path.relative(project, p));
            walk(p);
        }
    };
    walk(path.join(project, "node_modules"));
    return found;
}

/** The Docker containers, networks and volumes named like the project's resources (`itpkg*`). */
function leftovers(): { containers: string[]; networks: string[]; volumes: string[] } {
    const named = (...args: string[]) =>
        docker(...args)
            .split("\n")
            .filter(n => n.startsWith("itpkg"));
    return {
        containers: named("ps", "-a", "--format", "{{.Names}}"),
        networks: named("network", "ls", "--format", "{{.Name}}"),
        volumes: named("volume", "ls", "--format", "{{.Name}}"),
    };
}

describe("the package as users install it", () => {
    const scope = new Scope();
    const project = consumerProject(path.join(scope.dir, "project"), SDK);
    const env = stackEnv(path.join(scope.dir, "state"));
    const pulumi = (...args: string[]) => run("pulumi", [...args, "--non-interactive", "--color", "never"], { cwd: project, env });
    let tarball = "";
    let packed: { path: string }[] = [];
    let destroyed = true;
    let out: Record<string, any>;

    beforeAll(async () => {
        const dest = path.join(scope.dir, "pack");
        fs.mkdirSync(dest);
        const r = await npm(REPO, "pack", "--pack-destination", dest, "--json");
        const info = JSON.parse(r.out.slice(r.out.indexOf("["), r.out.lastIndexOf("]") + 1))[0];
        tarball = path.join(dest, info.filename);
        packed = info.files;
        console.log(`tarball ${info.filename}: ${info.size} bytes, ${info.entryCount} files`);
    });

    afterAll(async () => {
        if (!destroyed) await pulumi("destroy", "--yes", "--skip-preview", "--stack", STACK).catch(e => console.error(e.message));
        // What a destroy that failed half-way left: the project's own names, nothing else.
        const left = leftovers();
        if (left.containers.length) docker("rm", "-f", "-v", ...left.containers);
        if (left.networks.length) docker("network", "rm", ...left.networks);
        if (left.volumes.length) docker("volume", "rm", "-f", ...left.volumes);
        scope.cleanup();
    });

    test("npm pack builds first and ships the compiled components, their typings, the guard CLI, the client README and LICENSE, nothing else", () => {
        const files = packed.map(f => f.path).sort();
        const sources = (dir: string): string[] =>
            fs
                .readdirSync(path.join(REPO, dir), { withFileTypes: true })
                .flatMap(e =>
                    e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith(".ts") ? [path.join(dir, e.name.slice(0, -3))] : [],
                );
        const compiled = sources("components").flatMap(s => [`bin/${s}.js`, `bin/${s}.d.ts`]);
        expect(compiled.length).toBeGreaterThan(40);
        expect(files).toEqual([...compiled, "LICENSE", "README.md", "components/client/README.md", "package.json"].sort());
        expect(files).toContain(manifest.bin["redis-secure-topologies"]);
        expect(files.filter(f => /^(test|scripts|bench|stacks)\/|^bin\/(index|program)\.|\.map$/.test(f))).toEqual([]);
    });

    test("installed into a fresh Pulumi project, it shares the project's one @pulumi/pulumi", async () => {
        fs.writeFileSync(path.join(project, "index.ts"), PROGRAM);
        fs.writeFileSync(path.join(project, "Pulumi.yaml"), "name: itpkg\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n");
        await npm(project, "install", tarball);
        const installed = path.join(project, "node_modules", "redis-secure-topologies");
        expect(fs.readFileSync(path.join(installed, "LICENSE"), "utf8")).toMatch(/Apache License\s+Version 2\.0, January 2004/);
        expect(fs.readFileSync(path.join(installed, manifest.bin["redis-secure-topologies"]), "utf8")).toMatch(/^#!\/usr\/bin\/env node\n/);
        const own = JSON.parse(fs.readFileSync(path.join(installed, "package.json"), "utf8"));
        expect({ peer: own.peerDependencies["@pulumi/pulumi"], dependency: own.dependencies["@pulumi/pulumi"] }).toEqual({
            peer: `^${SDK}`,
            dependency: undefined,
        });
        expect(sdkCopies(project)).toEqual([path.join("node_modules", "@pulumi", "pulumi")]);
        // npm ls fails on a missing or unmet peer.
        expect((await run("npm", ["ls", "@pulumi/pulumi", "--all", "--parseable"], { cwd: project })).stdout.trim().split("\n")).toEqual([
            path.join(project, "node_modules", "@pulumi", "pulumi"),
        ]);
    });

    test("a project on a newer compatible @pulumi/pulumi resolves to that one copy too (npm's own resolution)", async () => {
        // The newest @pulumi/pulumi in the peer range (it needs a newer Node than this machine's, so only resolved).
        const dir = consumerProject(path.join(scope.dir, "newer-sdk"), manifest.peerDependencies["@pulumi/pulumi"]);
        await npm(dir, "install", "--package-lock-only", "--ignore-scripts", tarball);
        const lock = JSON.parse(fs.readFileSync(path.join(dir, "package-lock.json"), "utf8"));
        const copies = Object.entries(lock.packages as Record<string, { version: string }>).filter(([p]) =>
            p.endsWith("node_modules/@pulumi/pulumi"),
        );
        expect(copies).toHaveLength(1);
        expect(copies[0][0]).toBe("node_modules/@pulumi/pulumi");
        expect(copies[0][1].version).not.toBe(SDK);
    });

    test("the plain CLI: stack init, up, then a preview with no changes", async () => {
        await pulumi("stack", "init", STACK);
        for (const [key, value] of Object.entries(CONFIG)) await pulumi("config", "set", key, value, "--stack", STACK);
        destroyed = false;
        const up = await pulumi("up", "--yes", "--stack", STACK);
        const created = /\+ (\d+) created/.exec(up.out);
        expect(created).not.toBeNull();
        console.log(`pulumi up: ${created![1]} resources created`);
        out = JSON.parse((await pulumi("stack", "output", "--json", "--show-secrets", "--stack", STACK)).stdout);
        expect(out.cluster.nodes).toHaveLength(6);
        const preview = await pulumi("preview", "--expect-no-changes", "--stack", STACK);
        expect(preview.out).toMatch(new RegExp(`${Number(created![1])} unchanged`));
    });

    test("connect() from the installed client toolkit writes and reads keys through the cluster, and through the tunnel", async () => {
        const client = createRequire(path.join(project, "index.ts"))("redis-secure-topologies/client");
        const { cluster, tunnelEnd } = out;
        const tls = { ca: cluster.caCertPem };
        const c = await client.connect({ kind: "cluster", nodes: cluster.nodes, tls, ...cluster.appUser });
        try {
            for (let i = 0; i < 100; i++) await c.set(`itpkg:${i}`, `v${i}`);
            for (let i = 0; i < 100; i++) expect(await c.get(`itpkg:${i}`)).toBe(`v${i}`);
            // A key in the first master's slots, read through spiped (TLS inside it: the node's certificate names 127.0.0.1).
            const m0 = cluster.nodes[0];
            let key = "";
            for (let i = 0; !key && i < 100; i++)
                if (Number(await c.call("CLUSTER", "KEYSLOT", `itpkg:${i}`)) <= m0.slots[1]) key = `itpkg:${i}`;
            const t = await client.connect({ kind: "node", host: tunnelEnd.host, port: tunnelEnd.port, tls, ...cluster.appUser });
            try {
                expect(await t.get(key)).toBe(`v${key.split(":")[1]}`);
            } finally {
                t.disconnect();
            }
        } finally {
            c.disconnect();
        }
    });

    test("npx redis-secure-topologies guard --once, from the installed package, finds the cluster as planned", async () => {
        const r = await run("npx", ["--no", "redis-secure-topologies", "guard", "--stack", STACK, "--once"], {
            cwd: project,
            env,
            check: false,
        });
        expect(r.out).toMatch(/itpkg-m0\s+master\s+master\s+-\s+-\s+0-5460\s+ok/);
        expect(r.out).toContain("ok: the cluster matches the plan; no action");
        expect(r.out).not.toContain(out.cluster.adminUser.password);
        expect(r.code).toBe(0);
    });

    test("the plain CLI: destroy leaves no container, network or volume of the project", async () => {
        await pulumi("destroy", "--yes", "--stack", STACK);
        destroyed = true;
        expect(leftovers()).toEqual({ containers: [], networks: [], volumes: [] });
    });
});
