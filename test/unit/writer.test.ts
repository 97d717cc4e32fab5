// The file writer's script (filesVolume), run for real with sh on a temporary directory standing for the volume.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { writerScript } from "../../components/redis/node";

describe("writerScript", () => {
    let root: string;
    const me = `${os.userInfo().username}`;
    /** Puts `files` under src/ (the uploads) and runs the script onto target/. */
    const run = (files: Record<string, string>) => {
        fs.rmSync(path.join(root, "src"), { recursive: true, force: true });
        for (const [f, c] of Object.entries(files)) {
            fs.mkdirSync(path.dirname(path.join(root, "src", f)), { recursive: true });
            fs.writeFileSync(path.join(root, "src", f), c);
        }
        execFileSync("sh", ["-ec", writerScript(path.join(root, "src"), me, undefined, path.join(root, "target"))]);
    };
    const tree = () =>
        execFileSync("find", [".", "-type", "f"], { cwd: path.join(root, "target") })
            .toString()
            .trim()
            .split("\n")
            .sort();
    const read = (f: string) => fs.readFileSync(path.join(root, "target", f), "utf8");
    beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "writer-"));
        fs.mkdirSync(path.join(root, "target"));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    test("delivers every file; the previous run's files stay one run longer, older ones go", () => {
        run({ "redis.conf": "a", "tls.conf": "v1", "tls/v1/node.crt": "c1" });
        expect(tree()).toEqual(["./.manifest", "./redis.conf", "./tls.conf", "./tls/v1/node.crt"]);
        run({ "redis.conf": "a", "tls.conf": "v2", "tls/v2/node.crt": "c2" });
        expect(tree()).toEqual(["./.manifest", "./redis.conf", "./tls.conf", "./tls/v1/node.crt", "./tls/v2/node.crt"]);
        expect([read("tls.conf"), read("tls/v2/node.crt")]).toEqual(["v2", "c2"]);
        run({ "redis.conf": "b", "tls.conf": "v3", "tls/v3/node.crt": "c3" });
        expect(tree()).toEqual(["./.manifest", "./redis.conf", "./tls.conf", "./tls/v2/node.crt", "./tls/v3/node.crt"]);
        expect(read("redis.conf")).toBe("b");
    });

    test("replaces each file by a rename (a reader holding the old one keeps it; the path never goes missing)", () => {
        run({ "redis.conf": "old" });
        const before = fs.statSync(path.join(root, "target", "redis.conf")).ino;
        run({ "redis.conf": "new" });
        expect(fs.statSync(path.join(root, "target", "redis.conf")).ino).not.toBe(before);
        expect(read("redis.conf")).toBe("new");
        expect(fs.existsSync(path.join(root, "target", ".staging"))).toBe(false);
    });

    test("moves deeper paths first, so a top-level file never names a directory not yet there", () => {
        const script = writerScript("/src", "redis:redis");
        expect(script).toContain("sort -rn");
        run({ "z.conf": "1", "a/b/c": "2", "a/d": "3" });
        // the order of the moves is the order of .manifest
        expect(read(".manifest").trim().split("\n")).toEqual(["./a/b/c", "./a/d", "./z.conf"]);
    });
});
