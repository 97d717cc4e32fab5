// One Prometheus exporter per topology (multi-target: /scrape?target=<node>), beside the nodes: its password file,
// CA and client certificate on a read-only volume (filesVolume), its port published on loopback only by default.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { filesVolume, FILES_LABEL, lockedDown, READ_ONLY_ROOT } from "../redis/node";
import type { UserCredential } from "../redis/users";
import {
    EXPORTER_DIR,
    EXPORTER_PORT,
    EXPORTER_USER,
    exporterCommand,
    MetricsOutput,
    MetricsPlan,
    metricsOutput,
    MetricsTarget,
    PASSWORD_FILE,
    passwordFile,
} from "./plan";

export {
    metricsPlan,
    MetricsArgs,
    MetricsOutput,
    MetricsPlan,
    MetricsTarget,
    exporterCommand,
    passwordFile,
    metricsOutput,
    targetUri,
} from "./plan";

/**
 * The exporter `<name>-metrics` on the engine of `opts.provider`: on the topology's node network (where it reaches the
 * nodes) and its own network `<name>-metrics-net`, whose bridge publishes its port (a node network is internal, and
 * Docker publishes no port of an internal network). It logs in as `user` (the `metrics` ACL user).
 */
export function redisExporter(
    name: string,
    a: {
        image: pulumi.Input<string>;
        nodeNetwork: pulumi.Input<string>;
        targets: MetricsTarget[];
        plan: MetricsPlan;
        user: UserCredential;
        tls?: { caPem: pulumi.Input<string>; certPem?: pulumi.Input<string>; keyPem?: pulumi.Input<string> };
    },
    opts: pulumi.CustomResourceOptions,
): MetricsOutput {
    const exporter = `${name}-metrics`;
    const net = new docker.Network(`${exporter}-net`, { name: `${exporter}-net`, ipamConfigs: [{ subnet: a.plan.subnet }] }, opts);
    const uploads: docker.types.input.ContainerUpload[] = [
        { file: PASSWORD_FILE, content: pulumi.secret(a.user.password.apply(p => passwordFile(a.targets, p))), permissions: "0600" },
    ];
    const useTls = a.targets.some(t => t.tls) && a.tls !== undefined;
    if (useTls) uploads.push({ file: `${EXPORTER_DIR}/ca.crt`, content: a.tls!.caPem, permissions: "0644" });
    const clientCert = useTls && a.tls!.certPem !== undefined && a.tls!.keyPem !== undefined;
    if (clientCert) {
        uploads.push({ file: `${EXPORTER_DIR}/client.crt`, content: a.tls!.certPem!, permissions: "0644" });
        uploads.push({ file: `${EXPORTER_DIR}/client.key`, content: pulumi.secret(a.tls!.keyPem!), permissions: "0600" });
    }
    const files = filesVolume(exporter, { image: a.image, dir: EXPORTER_DIR, owner: EXPORTER_USER, uploads }, opts);
    new docker.Container(
        exporter,
        {
            name: exporter,
            image: a.image,
            user: EXPORTER_USER,
            command: exporterCommand({ first: a.targets[0], user: a.user.username, tls: useTls, clientCert }),
            networksAdvanced: [
                { name: a.nodeNetwork, aliases: [exporter] },
                { name: net.name, aliases: [exporter] },
            ],
            ports: [{ internal: EXPORTER_PORT, external: a.plan.listenPort, ip: a.plan.listenAddress }],
            volumes: [{ volumeName: files.volumeName, containerPath: EXPORTER_DIR, readOnly: true }],
            labels: [{ label: FILES_LABEL, value: files.run }],
            restart: "unless-stopped",
            mustRun: true,
            ...READ_ONLY_ROOT,
            ...lockedDown(),
        },
        { ...opts, deleteBeforeReplace: true },
    );
    return metricsOutput(a.plan, a.targets);
}
