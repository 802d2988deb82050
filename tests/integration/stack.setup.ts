import { join } from "node:path";
import "vitest";
import type { TestProject } from "vitest/node";
import { repoRoot } from "../../tools/stack/paths.ts";
import { reapStale } from "../../tools/stack/process.ts";
import { startStack, type StackInfo } from "../../tools/stack/stack.ts";

/** Where the test stack keeps its data; TEST_DATA_DIR lets two runs share a machine. */
export const testDataDir = (): string => process.env["TEST_DATA_DIR"] ?? join(repoRoot, ".data/test");

declare module "vitest" {
  export interface ProvidedContext {
    stack: StackInfo;
  }
}

/**
 * The real stack, once per test run, on free ports and its own data directory
 * (so `npm run dev` can run beside it). Logs stay in .data/test/logs after the run.
 */
export default async function setup(project: TestProject) {
  const dataDir = testDataDir();
  const started = Date.now();
  const stack = await startStack({ dataDir, ports: "free", fresh: true, log: (l) => console.log(`[stack] ${l}`) });
  console.log(`[stack] ready in ${((Date.now() - started) / 1000).toFixed(1)} s; logs in ${stack.logDir}`);
  // Plain data only: the restartable broker and scheduler stay with the stack that runs them.
  const { stop, kafka: _kafka, scheduler: _scheduler, ...info } = stack;
  project.provide("stack", info);
  return async () => {
    await stop();
    // Sidecars of a test worker that crashed before its own teardown.
    const leftovers = reapStale(info.pidDir);
    if (leftovers.length > 0) console.log(`[stack] stopped leftovers: ${leftovers.join(", ")}`);
  };
}
