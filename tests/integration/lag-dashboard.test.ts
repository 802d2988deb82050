/**
 * The lag dashboard in a real browser (headless Chromium): a consumer's lag
 * rises on the page while the consumer is stopped and falls after it starts.
 * Screenshots are kept as test artifacts in <test data>/artifacts/.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../../tools/stack/browser.ts";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mintToken } from "../../functions/task-api/auth.ts";
import { z } from "zod";
import { defineEvent, envelope } from "../../shared/catalog/cloudevent.ts";
import { deadLetterTopicOf, PUBSUB, Service, Topic } from "../../shared/catalog/names.ts";
import { createDaprClient } from "../../shared/host/publisher.ts";
import { acknowledge } from "../../tools/dead-letter/dead-letters.ts";
import { connectToRunningStack } from "../../tools/dead-letter/stack.ts";
import { localStackTarget } from "../../tools/dead-letter/target.ts";
import { startFunction, type RunningFunction } from "../../tools/stack/functions.ts";
import { waitUntil } from "../../tools/stack/process.ts";

const stack = inject("stack");
const secret = `${crypto.randomUUID()}${crypto.randomUUID()}`;
const artifacts = join(stack.dataDir, "artifacts");

let dashboard: RunningFunction;
let taskApi: RunningFunction;
let notifications: RunningFunction | undefined;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  [dashboard, taskApi] = await Promise.all([
    startFunction(stack, Service.LagDashboard),
    startFunction(stack, Service.TaskApi, { env: { AUTH_JWT_SECRET: secret } }),
  ]);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([dashboard?.stop(), taskApi?.stop(), notifications?.stop()]);
});

const lagOnPage = async (service: string): Promise<number> => {
  const text = await page.locator(`[data-service="${service}"] [data-role="total-lag"]`).textContent({ timeout: 10_000 });
  return Number(text);
};

describe("lag dashboard", () => {
  it("shows a stopped consumer's lag rising, and falling after it restarts", async () => {
    await page.goto(`http://127.0.0.1:${dashboard.publicPort}/`);
    const service = Service.NotificationService;
    await waitUntil("the dashboard to render", async () => (await page.locator(`[data-service="${service}"]`).count()) === 1, { timeoutMs: 20_000 });
    const before = await lagOnPage(service);

    const token = await mintToken(secret, "dash");
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`http://127.0.0.1:${taskApi.publicPort}/tasks`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ title: `lag ${i}`, reminder: { remindAt: new Date(Date.now() + 1_000).toISOString() } }),
      });
      expect(res.status).toBe(201);
    }
    // Each task owes reminder.scheduled now and reminder.due a second later, on `reminders`.
    await waitUntil("the lag to rise on the page", async () => (await lagOnPage(service)) >= before + 10, { timeoutMs: 30_000 });
    expect(await page.locator(`[data-service="${service}"]`).textContent()).toContain("not running");
    await page.screenshot({ path: join(artifacts, "lag-dashboard-lagging.png"), fullPage: true });

    notifications = await startFunction(stack, service);
    await waitUntil("the lag to fall to zero on the page", async () => (await lagOnPage(service)) === 0, { timeoutMs: 60_000 });
    await waitUntil("the page to show it running", async () => ((await page.locator(`[data-service="${service}"]`).textContent()) ?? "").includes("running:"), {
      timeoutMs: 20_000,
    });
    await page.screenshot({ path: join(artifacts, "lag-dashboard.png"), fullPage: true });
  });

  it("serves the same figures as JSON and as kafka-exporter style gauges", async () => {
    const api = (await (await fetch(`http://127.0.0.1:${dashboard.publicPort}/api/lag`)).json()) as {
      consumers: { service: string; totalLag: number; keda: { replicas: number; atZero: boolean } }[];
      history: unknown[];
    };
    expect(api.consumers.map((c) => c.service).sort()).toEqual([Service.AuditService, Service.NotificationService, Service.RecurringTaskService].sort());
    expect(api.history.length).toBeGreaterThan(1);
    const metrics = await (await fetch(`http://127.0.0.1:${dashboard.appPort}/metrics`)).text();
    expect(metrics).toMatch(/kafka_consumergroup_lag\{[^}]*consumergroup="notification-service"[^}]*\} \d+/);
    expect(metrics).toContain("taskapp_keda_desired_replicas");
  });

  it("counts both dead-letter shapes through its raw subscription, and its depth drops to 0 once acknowledged", async () => {
    const topic = deadLetterTopicOf(Service.AuditService);
    const Noted = defineEvent({ topic: Topic.TaskEvents, type: "test.noted.v1", schema: z.object({ note: z.string() }) });
    const original = envelope({ event: Noted, data: { note: "dashboard" }, subject: "task-dash-dlq", source: "test" });
    // An original as Dapr forwards it (no record around it), published raw through task-api's sidecar as a stand-in writer.
    const { error } = await createDaprClient(taskApi.sidecarAddress).pubsub.publish(
      PUBSUB,
      topic,
      { ...original, topic: Topic.TaskEvents, pubsubname: PUBSUB },
      { contentType: "application/json", metadata: { rawPayload: "true", partitionKey: original.subject! } },
    );
    if (error) throw error instanceof Error ? error : new Error(String(error));
    type Api = {
      consumers: { service: string; deadLetters: { received: Record<string, number>; newest: { eventId: string | null; kind: string }[]; pending: number } }[];
      deadLetters: { service: string; depth: number }[];
    };
    const lag = async () => (await (await fetch(`http://127.0.0.1:${dashboard.publicPort}/api/lag`)).json()) as Api;
    const card = async () => (await lag()).consumers.find((c) => c.service === Service.AuditService)!;
    await waitUntil("the forwarded original on the dashboard", async () => (await card()).deadLetters.newest.some((d) => d.eventId === original.id), {
      timeoutMs: 30_000,
    });
    expect((await card()).deadLetters.newest.find((d) => d.eventId === original.id)?.kind).toBe("forwarded-by-dapr");
    expect((await card()).deadLetters.received["forwarded-by-dapr"]).toBeGreaterThanOrEqual(1);
    await waitUntil("a depth above 0", async () => ((await lag()).deadLetters.find((d) => d.service === Service.AuditService)?.depth ?? 0) > 0, {
      timeoutMs: 10_000,
    });

    const [acked] = await acknowledge(
      localStackTarget(await connectToRunningStack(stack.dataDir, { DAPR_SCHEDULER_PORT: stack.schedulerAddress.split(":").pop()! })),
      {
        consumers: [Service.AuditService],
      },
    );
    expect(acked?.acknowledged).toBeGreaterThanOrEqual(1);
    await waitUntil("the depth to drop to 0", async () => (await lag()).deadLetters.find((d) => d.service === Service.AuditService)?.depth === 0, {
      timeoutMs: 10_000,
    });
    const metrics = await (await fetch(`http://127.0.0.1:${dashboard.appPort}/metrics`)).text();
    expect(metrics).toContain(`taskapp_deadletter_depth{service="${Service.AuditService}"} 0`);
  });
});
