// Chaos case 4 for real (#19): the Docker engine restarted with every node on it. A RedisCluster (3+1, AOF
// everysec, node timeout 3 s) deployed through the real engine by `dockerHost` onto test host h1
// (scripts/test-hosts.sh), whose dockerd is then restarted cleanly (`test-hosts.sh restart 1`: it stops every
// container with its stop signal, SIGTERM, and starts them again by their restart policy) while the app writes with
// WAIT 1 to every shard. No write WAIT 1 acknowledged may be lost; the nodes must come back in their planned roles
// and serve every slot by themselves (no `pulumi up`, no converge). Test host h1 is shared with multihost.test.ts
// (the same subnet): never run the two at once.
import { ChaosTally, clusterHealthy, clusterKeys, isAcked, shardTags, WRITER_CLIENT } from "./chaos-writer";
import { clusterStack, DeployedCluster, plainOutputs } from "./deploy";
import { dockerOn, restartTestHost, Scope, startTestHosts, testHostEngine } from "./harness";

jest.setTimeout(300_000);

const NAME = "chaos-en";
const HOST = "h1";
const ENGINE = testHostEngine(HOST);
/** test-hosts.sh routes 172.26.N.0/24 to host hN. */
const SUBNET = "172.26.1.0/24";

describe("chaos 4b: the Docker engine with every node on it restarted", () => {
    const scope = new Scope(undefined, [ENGINE]);
    const tally = new ChaosTally();
    let c: DeployedCluster;
    let tags: Map<string, string>;
    const conn = () => ({ auth: c.target.auth, tls: c.target.tls });

    beforeAll(async () => {
        startTestHosts(1); // throws why when h1 cannot start: the suite fails
        // Fixed names and subnet: remove what a run that died half-way left on h1.
        const left = (...list: string[]) =>
            dockerOn(ENGINE, ...list)
                .split("\n")
                .filter(n => n.startsWith(`${NAME}-`));
        const containers = left("ps", "-a", "--format", "{{.Names}}");
        if (containers.length) dockerOn(ENGINE, "rm", "-f", "-v", ...containers);
        for (const [what, list] of [
            ["network", left("network", "ls", "--format", "{{.Name}}")],
            ["volume", left("volume", "ls", "--format", "{{.Name}}")],
        ] as const) {
            if (list.length) dockerOn(ENGINE, what, "rm", ...list);
        }
        // One host: soft anti-affinity; not internal, so this machine (routed to h1) reaches the nodes.
        const stack = await clusterStack(scope, NAME, {
            [NAME]: {
                hosts: [{ name: HOST, dockerHost: ENGINE, subnet: SUBNET }],
                antiAffinity: "soft",
                internalNetwork: false,
                nodeTimeoutMs: 3000,
            },
        });
        c = new DeployedCluster(plainOutputs((await stack.up()).outputs), NAME, { [HOST]: ENGINE });
        tags = await shardTags(c.plan, conn(), NAME);
    });

    afterAll(async () => {
        tally.print();
        scope.cleanup(); // docker rm on h1, not `pulumi destroy` (15 s more; other suites test destroy)
    });

    test("4b. dockerd restarted: every node stops cleanly and comes back in its planned role, every slot writable, nothing acknowledged lost", async () => {
        await clusterHealthy(c.plan, conn());
        const started = () => c.plan.map(n => c.docker(n, "inspect", "-f", "{{.State.StartedAt}}", n.name));
        const before = started();
        let restartAt = 0,
            engineBackAt = 0,
            healthyAt = 0;
        const app = await c.appClient({ from: c.plan, client: WRITER_CLIENT });
        try {
            const t = await tally.chaosCase("engine-restart", `${NAME}-m0`, {
                client: app,
                keyOf: clusterKeys(c.plan, tags, "engine-restart"),
                acknowledged: new Set(),
                readers: async () => [app],
                fault: async () => {
                    restartAt = Date.now();
                    await restartTestHost(HOST);
                    engineBackAt = Date.now();
                },
                healed: async () => {
                    await clusterHealthy(c.plan, conn(), 120_000);
                    healthyAt = Date.now();
                },
            });
            for (const [shard, ws] of t.byShard) expect([shard, ws.some(w => isAcked(w) && w.t >= healthyAt)]).toEqual([shard, true]);
            // When every shard took a write again: its first accepted write after its last failed one.
            const backMs = [...t.byShard.values()].map(ws => {
                const lastFail = ws.filter(w => !w.setOk && w.t >= restartAt).pop();
                return (ws.find(w => w.setOk && w.t > (lastFail?.t ?? restartAt))?.t ?? NaN) - restartAt;
            });
            console.log(
                `engine-restart: dockerd back after ${engineBackAt - restartAt} ms, cluster healthy after ${healthyAt - restartAt} ms, ` +
                    `every shard writable after ${Math.max(...backMs)} ms; ${t.acked} acked, ${t.lostAcked} lost, ${t.failed} failed`,
            );
        } finally {
            app.disconnect();
        }
        // Every container was restarted by the engine (none kept running), and all came back by themselves.
        expect(started().filter((s, i) => s === before[i])).toEqual([]);
        for (const n of c.plan) expect(c.docker(n, "logs", "--tail", "100", n.name)).not.toMatch(/did not shut down cleanly/);
        await c.expectPlannedRoles();
        c.expectCheckPasses(); // every slot covered, one slot map
    });
});
