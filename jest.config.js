// Two projects: unit tests (pure functions and resource graphs under pulumi mocks) and integration tests
// (real Docker containers, real redis-server and spiped, the real Pulumi engine). `npm test` runs both.
const base = { preset: "ts-jest", testEnvironment: "node", transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: { warnOnly: false } }] } };
module.exports = {
    projects: [
        { ...base, displayName: "unit", testMatch: ["<rootDir>/test/unit/**/*.test.ts"] },
        { ...base, displayName: "integration", testMatch: ["<rootDir>/test/integration/**/*.test.ts"] },
    ],
};
