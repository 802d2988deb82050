import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["tests/unit/**/*.test.ts", "tests/contract/**/*.test.ts", "tests/manifests/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["tests/integration/**/*.test.ts"],
          // Starts Kafka, the Dapr scheduler and the Cosmos server once per run.
          globalSetup: ["tests/integration/stack.setup.ts"],
          testTimeout: 90_000,
          hookTimeout: 180_000,
          // Test files share one broker; they run one at a time to keep the 2-core machine calm.
          fileParallelism: false,
        },
      },
    ],
  },
});
