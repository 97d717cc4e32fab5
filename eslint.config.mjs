// ESLint's and typescript-eslint's recommended rules; Prettier (.prettierrc.json) owns the layout, and max-len
// catches what it leaves long (comments).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config({ ignores: ["bin/", "node_modules/"] }, js.configs.recommended, ...tseslint.configs.recommended, {
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
});
