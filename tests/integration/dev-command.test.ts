/**
 * `npm run dev` as a user runs it: it starts the stack, creates every topic,
 * prints where things run, and on Ctrl-C (SIGINT) leaves no process behind.
 * Ports come from the environment so it can run beside a developer's own dev stack.
 */
import { spawn } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { allTopics, CONSUMERS } from "../../shared/catalog/names.ts";
import { KafkaReader, plainKafkaAccess } from "../../shared/kafka.ts";
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

/** `npm run dev` on free ports in its own data directory, as a child process. */
const launchDev = async (name: string, args: string[]) => {
  const dataDir = `${testDataDir()}-${name}`;
  reapStale(join(dataDir, "pids")); // a run that was killed mid-test leaves pid files for this
  rmSync(dataDir, { recursive: true, force: true });
  const kafkaPort = await freePort();
  const dashboardPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    STACK_DATA_DIR: dataDir,
    KAFKA_PORT: String(kafkaPort),
    KAFKA_CONTROLLER_PORT: String(await freePort()),
    DAPR_SCHEDULER_PORT: String(await freePort()),
    COSMOS_PORT: String(await freePort()),
    PORT: String(await freePort()),
    DASHBOARD_PORT: String(dashboardPort),
    ZIPKIN_PORT: String(await freePort()),
  };
  delete env["KAFKA_BROKERS"];
  const dev = spawn(process.execPath, ["--import", "tsx", "tools/stack/dev.ts", ...args], { cwd: repoRoot, env });
  let output = "";
  dev.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  dev.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => dev.once("exit", (code) => resolve(code)));
  const pids = () => {
    const pidDir = join(dataDir, "pids");
    return readdirSync(pidDir).map((f) => (JSON.parse(readFileSync(join(pidDir, f), "utf8")) as { pid: number }).pid);
  };
  return { dev, dataDir, kafkaPort, dashboardPort, zipkinPort: Number(env["ZIPKIN_PORT"]), output: () => output, exited, pids };
};

describe("npm run dev", () => {
  it("runs the stack with every topic until Ctrl-C, then leaves no process behind", async () => {
    const { dev, kafkaPort, exited, pids: pidsNow, output } = await launchDev("dev", []);
    try {
      await waitUntil("npm run dev to be ready", async () => output().includes("Ctrl-C stops everything."), {
        timeoutMs: 120_000,
      });
      expect(output()).toMatch(new RegExp(`Kafka +127\\.0\\.0\\.1:${kafkaPort}\n`));

      const kafka = new KafkaReader(plainKafkaAccess(`127.0.0.1:${kafkaPort}`), "test-dev-command");
      const bounds = await kafka.bounds(allTopics().map((t) => t.name)).finally(() => kafka.close());
      expect(Object.fromEntries([...bounds].map(([name, partitions]) => [name, partitions.size]))).toEqual(
        Object.fromEntries(allTopics().map((t) => [t.name, t.partitions])),
      );

      const pids = pidsNow();
      expect(pids.length).toBeGreaterThanOrEqual(2); // Kafka and the scheduler, plus any function and sidecar
      expect(pids.every(alive)).toBe(true);

      dev.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(output()).toContain("stopped.");
      expect(pids.filter(alive)).toEqual([]);
    } finally {
      if (dev.exitCode === null) dev.kill("SIGKILL");
    }
  });

  it("with --autoscale, runs the control plane beside it, consumers at zero under KEDA, the dashboard reading the cluster; Ctrl-C leaves nothing", async () => {
    const { dev, dashboardPort, exited, pids, output } = await launchDev("dev-autoscale", ["--autoscale"]);
    try {
      await waitUntil("npm run dev -- --autoscale to be ready", async () => output().includes("Ctrl-C stops everything."), { timeoutMs: 180_000 });
      expect(output()).toMatch(/kube-apiserver +https:\/\/127\.0\.0\.1:\d+/);
      for (const consumer of CONSUMERS) expect(output()).toMatch(new RegExp(`${consumer} +0 replicas: KEDA starts it on lag`));

      const Lag = z.object({
        consumers: z.array(z.object({ service: z.string(), cluster: z.object({ conditions: z.array(z.object({ type: z.string(), status: z.string() })) }) })),
      });
      await waitUntil(
        "the dashboard to show KEDA's conditions for every consumer",
        async () => {
          const { consumers } = Lag.parse(await (await fetch(`http://127.0.0.1:${dashboardPort}/api/lag`)).json());
          return CONSUMERS.every((s) => consumers.find((c) => c.service === s)?.cluster.conditions.some((c) => c.type === "Ready" && c.status === "True"));
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
      const running = pids();
      expect(running.length).toBeGreaterThanOrEqual(9); // Kafka, scheduler, etcd, kube-apiserver, KEDA ×3, controller-manager, functions
      expect(running.every(alive)).toBe(true);

      dev.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(output()).toContain("stopped.");
      expect(running.filter(alive)).toEqual([]);
    } finally {
      if (dev.exitCode === null) dev.kill("SIGKILL");
    }
  });

  it("with --tracing, runs Zipkin beside it and the printed curl's write is one trace from task-api to audit-service; Ctrl-C leaves nothing", async () => {
    const { dev, zipkinPort, exited, pids, output } = await launchDev("dev-tracing", ["--tracing"]);
    try {
      await waitUntil("npm run dev -- --tracing to be ready", async () => output().includes("Ctrl-C stops everything."), { timeoutMs: 150_000 });
      expect(output()).toMatch(new RegExp(`Zipkin \\(traces\\) +http://127\\.0\\.0\\.1:${zipkinPort}/zipkin/\n`));
      // What the banner tells a user to paste: the token, then the curl.
      const token = /export TOKEN=(\S+)/.exec(output())?.[1];
      const url = /(http:\/\/127\.0\.0\.1:\d+\/tasks)\n/.exec(output())?.[1];
      const created = await fetch(url!, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ title: "Water the plants" }),
      });
      expect(created.status).toBe(201);
      const zipkin = `http://127.0.0.1:${zipkinPort}`;
      await waitUntil(
        "one trace in Zipkin with task-api's request and audit-service's handling of its event",
        async () => {
          const traces = (await (await fetch(`${zipkin}/api/v2/traces?serviceName=audit-service&limit=10`)).json()) as {
            name?: string;
            localEndpoint?: { serviceName?: string };
          }[][];
          return traces.some(
            (t) =>
              t.some((s) => s.localEndpoint?.serviceName === "task-api" && s.name === "post /tasks") &&
              t.some((s) => s.localEndpoint?.serviceName === "audit-service" && s.name?.startsWith("handle task.created")),
          );
        },
        { timeoutMs: 45_000, intervalMs: 1_000 },
      );
      const running = pids();
      expect(running.every(alive)).toBe(true);

      dev.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(output()).toContain("Kafka, Zipkin…");
      expect(running.filter(alive)).toEqual([]);
    } finally {
      if (dev.exitCode === null) dev.kill("SIGKILL");
    }
  });

  it("refuses an option it does not know, naming the one it has", async () => {
    const { exited, output } = await launchDev("dev-usage", ["--autoscaling"]);
    expect(await exited).toBe(2);
    expect(output()).toContain("unknown option --autoscaling\nusage: npm run dev [-- [--autoscale] [--tracing]]");
  });
});
