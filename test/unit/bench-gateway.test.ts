// bench/gateway.ts's report: section 6 and its summary rows spliced into an existing results.md (a run of that part alone).
import { gatewaySection, GatewayRow, spliceResults } from "../../bench/gateway";

const rows: GatewayRow[] = [
    { target: "native TLS", pipeline: 1, set: 20_000, get: 30_000 },
    { target: "gateway:default", pipeline: 1, set: 5_000, get: 6_000 },
    { target: "gateway:nokeepalive", pipeline: 1, error: "redis-benchmark gave no SET result" },
];
const md = [
    "# bench",
    "",
    "## Summary (ratios)",
    "",
    "| comparison | ours | baseline | ratio (ours / baseline) |",
    "|---|---|---|---|",
    "| bootstrap 3+3 | 2 s | 3 s | 0.67 |",
    "",
    "## 5. Durability",
    "",
    "five",
    "",
].join("\n");

describe("bench/gateway.ts results", () => {
    test("section 6 goes last, its summary rows at the end of the summary table, the rest untouched", () => {
        const out = spliceResults(md, rows);
        expect(out.startsWith("# bench\n\n## Summary (ratios)\n\n| comparison |")).toBe(true);
        const table = out.split("\n").filter(l => l.startsWith("| ") && out.indexOf(l) < out.indexOf("## 5."));
        expect(table.slice(1)).toEqual([
            "| bootstrap 3+3 | 2 s | 3 s | 0.67 |",
            "| GET P=1 c=48 --cluster: gateway:default (keepalive on, -n 100 (component defaults)) vs native TLS | 6,000/s | 30,000/s | 0.20 |",
            "| SET P=1 c=48 --cluster: gateway:default (keepalive on, -n 100 (component defaults)) vs native TLS | 5,000/s | 20,000/s | 0.25 |",
            "| GET P=1 c=48 --cluster: gateway:nokeepalive (keepalive off (-j), -n 100) vs native TLS | redis-benchmark gave no SET result | 30,000/s | n/a |",
            "| SET P=1 c=48 --cluster: gateway:nokeepalive (keepalive off (-j), -n 100) vs native TLS | redis-benchmark gave no SET result | 20,000/s | n/a |",
        ]);
        expect(out).toContain("## 5. Durability\n\nfive\n\n## 6. ClusterGateway");
        expect(out).toContain("| gateway:default (keepalive on, -n 100 (component defaults)) | 1 | 5,000 | 6,000 | 0.25 | 0.20 |");
        expect(out).toContain(
            "Best spiped setting for the gateway in this run (sum of SET+GET req/s, unpipelined and -P 16): **gateway:default",
        );
    });

    test("a second run replaces section 6 and the summary rows instead of adding them again; a section after 6 stays", () => {
        const once = `${spliceResults(md, rows)}\n## 7. Later\n\nseven\n`;
        const faster = rows.map(r => (r.target === "gateway:default" ? { ...r, set: 10_000 } : r));
        const twice = spliceResults(once, faster);
        expect(twice.match(/## 6\. /g)).toHaveLength(1);
        expect(twice.match(/--cluster: gateway:default/g)).toHaveLength(2);
        expect(twice).toContain("| 10,000/s | 20,000/s | 0.50 |");
        expect(twice).not.toContain("| 5,000/s |");
        expect(twice).toContain(`${gatewaySection(faster)}\n## 7. Later\n\nseven\n`);
    });
});
