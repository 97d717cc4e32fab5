// Chaos case 7 (#19): a node's disk full, on the real components deployed through the real engine (RedisCluster
// 3+1, AOF everysec, node timeout 3 s, the local engine). Master m0's data volume is a small ext4 file system of its
// own (a 64 MB image on a loop device, bind-mounted into a local Docker volume made before the deployment under the
// name the component gives it: Docker's volume create is idempotent by name, so the component's docker.Volume takes
// it over). The app writes with WAIT 1 to every shard while that file system is filled from the host: m0 must refuse
// writes with Redis's clear MISCONF error (and only m0), keep every write WAIT 1 acknowledged, and take writes again
// by itself once the space is freed. Counts and timings are printed for the README's chaos table.
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as wire from "../../components/redis/wire";
import { ChaosTally, clusterHealthy, clusterKeys, isAcked, shardTags, sleep } from "./chaos-writer";
import { DeployedCluster, localClusterStack, plainOutputs } from "./deploy";
import { docker, Scope } from "./harness";

jest.setTimeout(300_000);

const NAME = "chaos-dk";
const SUBNET = "172.25.210.0/24";
const VICTIM = `${NAME}-m0`;
/** The name redisNode() gives the victim's data volume. */
const VOLUME = `${VICTIM}-data`;
/** Fixed, so a run that died half-way is cleaned up by the next one (and by scripts/clean-test-leftovers.sh). */
const DISK = "/tmp/rst-chaos-disk";
const IMG = `${DISK}/disk.img`;
const MNT = `${DISK}/mnt`;
const FILL = `${MNT}/fill`;
const NO_SPACE = "MISCONF Errors writing to the AOF file: No space left on device";

const run = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
const mounted = () => spawnSync("mountpoint", ["-q", MNT]).status === 0;

/** Removes the victim's container and volume, the mount and the image, whatever is left of them (idempotent). */
function releaseDisk(): void {
    if (docker("ps", "-aq", "--filter", `name=^${VICTIM}$`)) docker("rm", "-f", "-v", VICTIM);
    if (docker("volume", "ls", "-q", "--filter", `name=^${VOLUME}$`)) docker("volume", "rm", VOLUME);
    if (mounted()) run("umount", MNT); // the loop device goes with it (mount -o loop sets autoclear)
    fs.rmSync(DISK, { recursive: true, force: true });
}

describe("chaos 7: a master's disk full (AOF everysec)", () => {
    const scope = new Scope();
    const tally = new ChaosTally();
    let c: DeployedCluster;
    let tags: Map<string, string>;
    const conn = () => ({ auth: c.target.auth, tls: c.target.tls });

    beforeAll(async () => {
        releaseDisk();
        fs.mkdirSync(MNT, { recursive: true });
        run("truncate", "-s", "64M", IMG);
        run("mkfs.ext4", "-q", IMG);
        run("mount", "-o", "loop", IMG, MNT);
        docker(
            "volume",
            "create",
            "--label",
            scope.label,
            "--driver",
            "local",
            "--opt",
            "type=none",
            "--opt",
            "o=bind",
            "--opt",
            `device=${MNT}`,
            VOLUME,
        );
        const stack = await localClusterStack(scope, NAME, SUBNET);
        c = new DeployedCluster(plainOutputs((await stack.up()).outputs), NAME);
        tags = await shardTags(c.plan, conn(), NAME);
    });

    afterAll(async () => {
        tally.print();
        // Removed with docker rm, not `pulumi destroy` (15 s more; other suites test destroy).
        try {
            scope.cleanup();
        } finally {
            releaseDisk();
        }
    });

    test("the victim's /data is the small file system (the component's volume took over the one made before)", async () => {
        await clusterHealthy(c.plan, conn());
        expect(fs.readdirSync(MNT)).toEqual(expect.arrayContaining(["appendonlydir", "nodes.conf"]));
        expect(docker("exec", VICTIM, "df", "-k", "/data").split("\n")[1].split(/\s+/)[1]).toMatch(/^[3-6]\d{4}$/); // ~60 MB, not the host's disk
    });

    test("7. disk full: the master refuses writes with MISCONF (only its shard), nothing acknowledged is lost, it takes writes again once space is freed", async () => {
        const m = c.node(VICTIM);
        const restarts = docker("inspect", "-f", "{{.RestartCount}}", VICTIM);
        const probe = `{${tags.get(VICTIM)}}:probe`;
        let filledAt = 0,
            refusedAt = 0,
            freedAt = 0,
            writableAt = 0;
        const app = await c.appClient({ from: c.plan, client: { commandTimeoutMs: 3000, maxReconnects: 10, maxRetriesPerRequest: 1 } });
        try {
            const t = await tally.chaosCase("disk-full", VICTIM, {
                client: app,
                keyOf: clusterKeys(c.plan, tags, "disk-full"),
                acknowledged: new Set(),
                readers: async () => [app],
                fault: async () => {
                    // dd ends on ENOSPC with the file system full (as root it takes the reserved blocks too).
                    const dd = spawnSync("dd", ["if=/dev/zero", `of=${FILL}`, "bs=1M"], { encoding: "utf8" });
                    expect(dd.stderr).toContain("No space left on device");
                    filledAt = Date.now();
                    await wire.waitUntil(
                        `${VICTIM} to refuse writes`,
                        async () => {
                            try {
                                await app.set(probe, "x");
                                return false;
                            } catch (e) {
                                return (e as Error).message.startsWith(NO_SPACE) || (e as Error).message;
                            }
                        },
                        30_000,
                        20,
                    );
                    refusedAt = Date.now();
                    await sleep(2000); // the writers meet the full disk too
                    fs.rmSync(FILL);
                    freedAt = Date.now();
                },
                healed: async () => {
                    await wire.waitUntil(`${VICTIM} to take writes again`, async () => (await app.set(probe, "x")) === "OK", 30_000, 5);
                    writableAt = Date.now();
                },
            });
            const failed = [...t.byShard].flatMap(([shard, ws]) =>
                ws.filter(w => !w.setOk).map(w => [shard, w.error?.slice(0, NO_SPACE.length)]),
            );
            expect(failed.length).toBeGreaterThan(0);
            // Every failed write is the victim's and says why: nothing else (no failover, no timeout).
            expect(new Set(failed.map(f => JSON.stringify(f)))).toEqual(new Set([JSON.stringify([VICTIM, NO_SPACE])]));
            console.log(
                `disk-full: ${VICTIM} refused writes ${refusedAt - filledAt} ms after the fill, wrote again ${writableAt - freedAt} ms after the space was freed; ` +
                    `${t.failed} failed, ${t.acked} acked (${t.byShard.get(VICTIM)!.filter(isAcked).length} on its shard), ${t.lostAcked} acked lost`,
            );
        } finally {
            app.disconnect();
        }
        // It stayed master throughout (no restart, no failover), and its AOF is written again.
        expect(docker("inspect", "-f", "{{.RestartCount}}", VICTIM)).toBe(restarts);
        await c.expectPlannedRoles();
        expect(await c.on(m, async x => (await wire.info(x, "persistence")).aof_last_write_status)).toBe("ok");
    });
});
