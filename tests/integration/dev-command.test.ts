/**
 * `npm run dev` as a user runs it: it starts the stack, creates every topic,
 * prints where things run, and on Ctrl-C (SIGINT) leaves no process behind.
 * Ports come from the environment so it can run beside a developer's own dev stack.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Kafka, logLevel } from "kafkajs";
import { describe, expect, it } from "vitest";
import { allTopics } from "../../shared/catalog/names.ts";
import { repoRoot } from "../../tools/stack/paths.ts";
import { freePort, reapStale, waitUntil } from "../../tools/stack/process.ts";
import { testDataDir } from "./stack.setup.ts";

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("npm run dev", () => {
  it("runs the stack with every topic until Ctrl-C, then leaves no process behind", async () => {
    const dataDir = `${testDataDir()}-dev`;
    reapStale(join(dataDir, "pids")); // a run that was killed mid-test leaves pid files for this
    rmSync(dataDir, { recursive: true, force: true });
    const kafkaPort = await freePort();
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      STACK_DATA_DIR: dataDir,
      KAFKA_PORT: String(kafkaPort),
      KAFKA_CONTROLLER_PORT: String(await freePort()),
      DAPR_SCHEDULER_PORT: String(await freePort()),
      COSMOS_PORT: String(await freePort()),
      PORT: String(await freePort()),
      DASHBOARD_PORT: String(await freePort()),
    };
    delete env["KAFKA_BROKERS"];
    const dev = spawn(process.execPath, ["--import", "tsx", "tools/stack/dev.ts"], { cwd: repoRoot, env });
    let output = "";
    dev.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    dev.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => dev.once("exit", (code) => resolve(code)));

    try {
      await waitUntil("npm run dev to be ready", async () => output.includes("Ctrl-C stops everything."), {
        timeoutMs: 120_000,
      });
      expect(output).toMatch(new RegExp(`Kafka +127\\.0\\.0\\.1:${kafkaPort}\n`));

      const admin = new Kafka({ brokers: [`127.0.0.1:${kafkaPort}`], logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      const { topics } = await admin.fetchTopicMetadata({ topics: allTopics().map((t) => t.name) });
      await admin.disconnect();
      expect(Object.fromEntries(topics.map((t) => [t.name, t.partitions.length]))).toEqual(
        Object.fromEntries(allTopics().map((t) => [t.name, t.partitions])),
      );

      const pidDir = join(dataDir, "pids");
      const pids = readdirSync(pidDir).map((f) => (JSON.parse(readFileSync(join(pidDir, f), "utf8")) as { pid: number }).pid);
      expect(pids.length).toBeGreaterThanOrEqual(2); // Kafka and the scheduler, plus any function and sidecar
      expect(pids.every(alive)).toBe(true);

      dev.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(output).toContain("stopped.");
      expect(pids.filter(alive)).toEqual([]);
    } finally {
      if (dev.exitCode === null) dev.kill("SIGKILL");
    }
  });
});
