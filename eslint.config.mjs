// ESLint's and typescript-eslint's recommended rules; Prettier (.prettierrc.json) owns the layout, and max-len
// catches what it leaves long (comments).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["bin/", "node_modules/"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        languageOptions: {
            globals: { require: "readonly", module: "writable", process: "readonly", console: "readonly", __dirname: "readonly" },
        },
        rules: {
            "max-len": [
                "error",
                { code: 140, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true },
            ],
            "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
        },
    },
    {
        // Code a dynamic provider serializes into state loads its modules when it runs, not at import (wire.ts says why).
        files: ["components/redis/wire.ts", "components/redis/conf.ts"],
        rules: { "@typescript-eslint/no-require-imports": "off" },
    },
    {
        // Tests and the benchmark read untyped JSON (docker inspect, stack outputs, state exports), feed components input
        // of the wrong type on purpose, and reach into ioredis internals; the components themselves stay without any.
        files: ["test/**", "bench/**"],
        rules: { "@typescript-eslint/no-explicit-any": "off" },
    },
);
