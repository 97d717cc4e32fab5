// The benchmark's pure parts: the docker flags the baseline script reproduces from `docker inspect`, and what counts
// as a no-change preview/up in the plain CLI's output.
import { expectNoChange } from "../../bench/cli";
import { createArgs } from "../../bench/updocker";

const image = { Config: { Entrypoint: null, Env: ["PATH=/usr/bin"], Labels: {}, WorkingDir: "" } };
const inspected = {
    Id: "0123456789abcdef",
    Name: "/bn-m0",
    Config: {
        Image: "sha256:abc",
        Cmd: ["sh", "/etc/redis-secure/start.sh"],
        Entrypoint: null,
        User: "redis",
        Env: ["PATH=/usr/bin", "A=1"],
        Labels: { "redis-secure-topologies.files": "d1", "rst-test": "x" },
    },
    HostConfig: {
        CapDrop: ["ALL"],
        CapAdd: null,
        SecurityOpt: ["no-new-privileges:true"],
        ReadonlyRootfs: true,
        Tmpfs: { "/tmp": "rw,noexec" },
        RestartPolicy: { Name: "unless-stopped", MaximumRetryCount: 0 },
        LogConfig: { Type: "json-file", Config: { "max-size": "10m" } },
        PortBindings: { "6390/tcp": [{ HostIp: "127.0.0.1", HostPort: "6390" }] },
        Memory: 0,
    },
    Mounts: [
        { Type: "volume", Name: "bn-m0-files", Destination: "/etc/redis-secure", RW: false },
        { Type: "volume", Name: "bn-m0-data", Destination: "/data", RW: true },
    ],
    NetworkSettings: { Networks: { "bn-net": { IPAMConfig: { IPv4Address: "172.25.100.10" }, Aliases: ["bn-m0", "0123456789ab"] } } },
};

describe("bench: the docker run script's flags from docker inspect", () => {
    test("every setting of the inspected container, the image's own defaults and the test label left out", () => {
        expect(createArgs(inspected, image, "bn-script=1")).toEqual([
            "create",
            "--name",
            "bn-m0",
            "--label",
            "bn-script=1",
            "--user",
            "redis",
            "-e",
            "A=1",
            "--label",
            "redis-secure-topologies.files=d1",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges:true",
            "--read-only",
            "--tmpfs",
            "/tmp:rw,noexec",
            "--restart",
            "unless-stopped",
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=10m",
            "-p",
            "127.0.0.1:6390:6390/tcp",
            "-v",
            "bn-m0-files:/etc/redis-secure:ro",
            "-v",
            "bn-m0-data:/data",
            "--network",
            "bn-net",
            "--ip",
            "172.25.100.10",
            "--network-alias",
            "bn-m0",
            "sha256:abc",
            "sh",
            "/etc/redis-secure/start.sh",
        ]);
    });
    test("an entrypoint or healthcheck it does not reproduce is an error, not a silently different container", () => {
        expect(() => createArgs({ ...inspected, Config: { ...inspected.Config, Entrypoint: ["x"] } }, image, "l")).toThrow(
            /entrypoint differs/,
        );
        expect(() =>
            createArgs({ ...inspected, Config: { ...inspected.Config, Healthcheck: { Test: ["CMD", "true"] } } }, image, "l"),
        ).toThrow(/healthcheck/);
    });
});

describe("bench: a no-change run", () => {
    const run = (out: string) => ({ ms: 1, out });
    test("all unchanged passes, refresh progress lines above the summary notwithstanding", () =>
        expect(expectNoChange("preview", run(" ~  pulumi:pulumi:Stack s refreshing \nResources:\n    87 unchanged\n")).ms).toBe(1));
    test("anything to create, update, replace or delete fails", () => {
        for (const out of [
            "Resources:\n    + 1 to create\n    86 unchanged",
            "Resources:\n    ~ 1 updated\n    86 unchanged",
            "Resources:\n    1 replaced\n    86 unchanged",
            " ~  x update\n",
        ]) {
            expect(() => expectNoChange("up", run(out))).toThrow(/not a no-change run/);
        }
    });
    test("output without a resource summary fails", () => expect(() => expectNoChange("up", run("error: something"))).toThrow());
});
