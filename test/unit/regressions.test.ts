// Bugs found by review, each pinned by a test that fails on the old code.
import { placeClusterNodes } from "../../components/cluster/plan";
import { defaultEarlyRenewalHours, validateCertificate } from "../../components/pki/validate";
import { addressIn, subnet } from "../../components/validate";
import { unreachableNode } from "../../components/cluster/converge";

const cert = { commonName: "n", use: "peer", validityHours: 24 * 365 };

test("node addresses carry across octets instead of running past .255", () => {
    expect(addressIn(subnet("s", "172.30.0.0/23"), 300)).toBe("172.30.1.44");
    const nodes = placeClusterNodes({ name: "c", masters: 100, replicasPerMaster: 2, hosts: ["h"], subnet: "172.30.0.0/22", port: 6379 });
    expect(nodes[nodes.length - 1].ip).toBe("172.30.2.94"); // .10 + 6 x 99 + 2
    for (const n of nodes) expect(n.ip.split(".").every(o => Number(o) <= 255)).toBe(true);
});

test.each(["172.30.5.0/16", "10.0.1.0/23"])("a subnet off its block boundary (%s) is refused", s => {
    expect(() => subnet("subnet", s)).toThrow(/starting on its block/);
});

test.each(["beef", "1234", ":", "999.999.999.999"])("%s is not an IP address", ip => {
    expect(() => validateCertificate({ ...cert, ipAddresses: [ip] })).toThrow(/^ipAddresses\[0\] must be an IPv4 or IPv6 address/);
});

test.each(["10.0.0.1", "::1", "fd00::10"])("%s is an IP address", ip => {
    expect(() => validateCertificate({ ...cert, ipAddresses: [ip] })).not.toThrow();
});

test("a DNS name with an empty label is refused", () => {
    expect(() => validateCertificate({ ...cert, dnsNames: ["a..b"] })).toThrow(/^dnsNames\[0\] must be a DNS name/);
});

test("a certificate is never born inside its renewal window", () => {
    expect(defaultEarlyRenewalHours(24)).toBe(12);
    expect(defaultEarlyRenewalHours(24 * 365)).toBe(720);
    expect(() => validateCertificate({ ...cert, validityHours: 48, earlyRenewalHours: 48 })).toThrow(
        /^earlyRenewalHours must be an integer from 0 to 47/,
    );
});

test("a node that does not answer is named, with the likely cause and the fix (was: the bare ETIMEDOUT)", () => {
    const msg = unreachableNode(
        { name: "shop-m1", ip: "172.30.0.16", port: 6379 },
        "cannot reach Redis at 172.30.0.16:6379 (TLS): connect ETIMEDOUT",
    );
    expect(msg).toMatch(/^cluster node shop-m1 does not answer at 172\.30\.0\.16:6379 \(cannot reach Redis .*ETIMEDOUT\)/);
    expect(msg).toMatch(/stopped or was removed outside Pulumi/);
    expect(msg).toMatch(/pulumi up --refresh/);
    expect(msg).toMatch(/docker logs shop-m1/);
    // Docker's default firewall drops it too (measured on the test hosts: the same ETIMEDOUT).
    expect(msg).toMatch(/host's firewall lets this machine reach port 6379 \(README: Firewall on the Redis hosts\)\.$/);
});
