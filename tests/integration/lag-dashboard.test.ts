/**
 * The lag dashboard in a real browser (headless Chromium): a consumer's lag
 * rises on the page while the consumer is stopped and falls after it starts.
 * Screenshots are kept as test artifacts in <test data>/artifacts/.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mintToken } from "../../functions/task-api/auth.ts";
import { Service } from "../../shared/catalog/names.ts";
import { startFunction, type RunningFunction } from "../../tools/stack/functions.ts";
import { waitUntil } from "../../tools/stack/process.ts";

const stack = inject("stack");
const secret = `${crypto.randomUUID()}${crypto.randomUUID()}`;
const chromiumPath = process.env["CHROMIUM_PATH"] ?? "/usr/bin/chromium";
const artifacts = join(stack.dataDir, "artifacts");

let dashboard: RunningFunction;
let taskApi: RunningFunction;
let notifications: RunningFunction | undefined;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} not found: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`);
  }
  mkdirSync(artifacts, { recursive: true });
  [dashboard, taskApi] = await Promise.all([
    startFunction(stack, Service.LagDashboard),
    startFunction(stack, Service.TaskApi, { env: { AUTH_JWT_SECRET: secret } }),
  ]);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
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
    expect(api.consumers.map((c) => c.service).sort()).toEqual(
      [Service.AuditService, Service.NotificationService, Service.RecurringTaskService].sort(),
    );
    expect(api.history.length).toBeGreaterThan(1);
    const metrics = await (await fetch(`http://127.0.0.1:${dashboard.appPort}/metrics`)).text();
    expect(metrics).toMatch(/kafka_consumergroup_lag\{[^}]*consumergroup="notification-service"[^}]*\} \d+/);
    expect(metrics).toContain("taskapp_keda_desired_replicas");
  });
});
