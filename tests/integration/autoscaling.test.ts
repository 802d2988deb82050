/**
 * KEDA scales the consumers on real Kafka lag, on a real control plane (kube-apiserver, KEDA's
 * operator and metrics adapter, the HPA controller), with the project's own ScaledObjects
 * (deploy/overlays/local: polling every second, cooldown 10 s). The replica runner plays the
 * kubelet: it runs as many copies of a consumer, each with its daprd, as its Deployment asks for.
 *
 * The tests run in order on one control plane: the first holds the copies back (pods Pending) to
 * compare KEDA's figures with the dashboard's model on a lag that stands still, the second lets
 * them start and drain, the third wakes a consumer from zero and waits for it to go back to zero.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Fastify from "fastify";
import type { Browser } from "playwright-core";
import { launchChromium } from "../../tools/stack/browser.ts";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { mintToken } from "../../functions/task-api/auth.ts";
import { CONSUMERS, KUBERNETES_NAMESPACE, Service, type ServiceName } from "../../shared/catalog/names.ts";
import { dashboardClusterEnv, startAutoscaling, type Autoscaling } from "../../tools/stack/autoscale.ts";
import { startFunction, type RunningFunction } from "../../tools/stack/functions.ts";
import { waitUntil } from "../../tools/stack/process.ts";
import type { ReplicaEvent } from "../../tools/stack/replicas.ts";

const stack = inject("stack");
const secret = `${randomUUID()}${randomUUID()}`;
const artifacts = join(stack.dataDir, "artifacts");

// ---------------------------------------------------------------- reminders land here

/**
 * Counts each task's reminders. While closed, requests wait: the copies' deliveries stay in
 * flight, their offsets uncommitted, while more copies start and the group rebalances.
 */
const webhook = Fastify();
const accepted = new Map<string, number>();
let url = "";
let open: () => void = () => undefined;
let opened = Promise.resolve();
const closeWebhook = () => {
  opened = new Promise<void>((resolve) => (open = resolve));
};

// ---------------------------------------------------------------- the system

let autoscaling: Autoscaling;
let taskApi: RunningFunction;
let dashboard: RunningFunction;
let browser: Browser;
const events: ReplicaEvent[] = [];
/** Every pid a consumer copy had (app and daprd), to show they are gone at zero. */
const pids = new Map<ServiceName, Set<number>>();

beforeAll(async () => {
  webhook.post("/hook", async (request, reply) => {
    const { taskId } = request.body as { taskId: string };
    await opened;
    if (request.raw.socket.destroyed) return reply; // the sender gave up: not a delivery
    accepted.set(taskId, (accepted.get(taskId) ?? 0) + 1);
    return reply.code(204).send();
  });
  await webhook.listen({ host: "127.0.0.1", port: 0 });
  const address = webhook.server.address();
  url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/hook`;

  autoscaling = await startAutoscaling(stack, {
    dir: join(stack.dataDir, "control-plane"),
    secrets: { jwtSecret: secret, appToken: randomUUID() },
    // The webhook may hold a reminder for several seconds: the sender waits, and keeps its claim.
    env: (service): Record<string, string> =>
      service === Service.NotificationService ? { NOTIFY_WEBHOOK_URL: url, NOTIFY_WEBHOOK_TIMEOUT_MS: "30000", CLAIM_LEASE_MS: "30000" } : {},
    onEvent: (event) => {
      events.push(event);
      if (event.kind !== "sidecar-ready") return;
      const copy = autoscaling.runner.running(event.service);
      const known = pids.get(event.service) ?? new Set<number>();
      for (const pid of copy.pids) known.add(pid);
      pids.set(event.service, known);
    },
  });
  [taskApi, dashboard] = await Promise.all([
    startFunction(stack, Service.TaskApi, { env: { AUTH_JWT_SECRET: secret } }),
    startFunction(stack, Service.LagDashboard, { env: dashboardClusterEnv(autoscaling) }),
  ]);
  // What earlier test files left unconsumed wakes consumers at once: start from all at zero.
  await allAtZero(120_000);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all([taskApi?.stop(), dashboard?.stop()]);
  await autoscaling?.stop();
  await webhook.close();
}, 120_000);

// ---------------------------------------------------------------- helpers

const token = () => mintToken(secret, "autoscaling");

const createTask = async (body: Record<string, unknown>): Promise<string> => {
  const res = await fetch(`http://127.0.0.1:${taskApi.publicPort}/tasks`, {
    method: "POST",
    headers: { authorization: `Bearer ${await token()}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { id: string }).id;
};

const callTaskApi = async (method: string, path: string): Promise<{ status: number; body: unknown }> => {
  const res = await fetch(`http://127.0.0.1:${taskApi.publicPort}${path}`, { method, headers: { authorization: `Bearer ${await token()}` } });
  return { status: res.status, body: await res.json() };
};

const Deployment = z.object({ spec: z.object({ replicas: z.number() }) });
const askedReplicas = async (service: ServiceName): Promise<number> =>
  Deployment.parse(await autoscaling.controlPlane.api.get(`/apis/apps/v1/namespaces/${KUBERNETES_NAMESPACE}/deployments/${service}`)).spec.replicas;

async function allAtZero(timeoutMs: number): Promise<void> {
  await waitUntil(
    "every consumer to be at zero replicas, asked and running",
    async () => {
      for (const service of CONSUMERS) {
        if ((await askedReplicas(service)) !== 0 || autoscaling.runner.running(service).replicas !== 0) return false;
      }
      return true;
    },
    { timeoutMs, intervalMs: 500 },
  );
}

const DashboardConsumer = z.object({
  service: z.string(),
  totalLag: z.number(),
  keda: z.object({ replicas: z.number(), triggers: z.array(z.object({ topic: z.string(), metric: z.number(), active: z.boolean() })) }),
  cluster: z.object({
    compared: z.boolean(),
    mismatch: z.string().optional(),
    deployment: z.object({ desired: z.number(), replicas: z.number(), ready: z.number() }).optional(),
    keda: z.array(z.object({ triggerIndex: z.number(), value: z.number(), active: z.boolean().optional() })),
  }),
});
const dashboardView = async (): Promise<Map<string, z.output<typeof DashboardConsumer>>> => {
  const body = z.object({ consumers: z.array(DashboardConsumer) }).parse(await (await fetch(`http://127.0.0.1:${dashboard.publicPort}/api/lag`)).json());
  return new Map(body.consumers.map((c) => [c.service, c]));
};

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

// ---------------------------------------------------------------- the tests

describe("KEDA scaling the consumers on a local control plane", () => {
  const reminderTasks: string[] = [];

  it("computes for each consumer the metric the dashboard's model computes on the same lag, and asks for 2+ replicas above 2 × lagThreshold", async () => {
    for (const service of CONSUMERS) autoscaling.runner.hold(service);
    // Six tasks, each with a reminder a second later: 6 events on task-events, 6 + 6 on reminders.
    const remindAt = new Date(Date.now() + 1_000).toISOString();
    for (let i = 0; i < 6; i++) reminderTasks.push(await createTask({ title: `scale ${i}`, reminder: { remindAt } }));

    // notification-service: lagThreshold 5, so 12 waiting reminders want ceil(12 / 5) = 3 replicas.
    await waitUntil("the HPA to ask notification-service for 2+ replicas", async () => (await askedReplicas(Service.NotificationService)) >= 2, {
      timeoutMs: 60_000,
      intervalMs: 250,
    });

    // Nothing consumes while the copies are held, so the lag stands still and the figures must agree.
    await waitUntil(
      "KEDA's figures and the model's to agree on a steady lag",
      async () => {
        const view = await dashboardView();
        return CONSUMERS.every((s) => {
          const c = view.get(s)!;
          return (
            c.totalLag > 0 &&
            c.cluster.compared &&
            c.cluster.keda.length === c.keda.triggers.length &&
            c.keda.triggers.every((t, i) => c.cluster.keda[i]!.value === t.metric)
          );
        });
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    const view = await dashboardView();
    for (const service of CONSUMERS) {
      const c = view.get(service)!;
      expect(
        c.cluster.keda.map((k) => k.value),
        service,
      ).toEqual(c.keda.triggers.map((t) => t.metric));
      expect(
        c.cluster.keda.map((k) => k.active),
        service,
      ).toEqual(c.keda.triggers.map((t) => t.active));
      expect(c.cluster.compared, service).toBe(true);
      expect(c.cluster.mismatch, service).toBeUndefined();
    }
    const notifications = view.get(Service.NotificationService)!;
    expect(notifications.keda.triggers[0]!.metric).toBeGreaterThan(2 * 5);
    expect(notifications.cluster.keda[0]!.value).toBe(notifications.keda.triggers[0]!.metric);
    expect(await askedReplicas(Service.NotificationService)).toBe(notifications.keda.replicas);
  }, 120_000);

  it("drains the backlog while copies start and stop: every reminder sent once, nothing left, then back to zero with the processes gone", async () => {
    mkdirSync(artifacts, { recursive: true });
    browser = await launchChromium();
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    await page.goto(`http://127.0.0.1:${dashboard.publicPort}/`);

    closeWebhook();
    for (const service of CONSUMERS) autoscaling.runner.release(service);
    try {
      await waitUntil("two notification-service copies to run", async () => autoscaling.runner.running(Service.NotificationService).ready >= 2, {
        timeoutMs: 60_000,
        intervalMs: 200,
      });
      // The page polls every 2 s: wait for it to show the copies ready, as the Deployment's status says.
      await waitUntil(
        "the page to show notification-service copies ready",
        async () =>
          /([2-9]|\d\d) ready/.test((await page.locator(`[data-service="${Service.NotificationService}"] [data-role="deployment"]`).textContent()) ?? ""),
        { timeoutMs: 20_000, intervalMs: 200 },
      );
      await page.screenshot({ path: join(artifacts, "autoscaling-scale-up.png"), fullPage: true });
    } finally {
      open();
    }

    await waitUntil("every reminder to reach the webhook", async () => reminderTasks.every((id) => (accepted.get(id) ?? 0) >= 1), {
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    await allAtZero(90_000);
    expect(reminderTasks.map((id) => accepted.get(id))).toEqual(reminderTasks.map(() => 1));
    // Each task's audit trail holds each of its events once: created, reminder scheduled, due, sent.
    for (const id of reminderTasks) {
      const { body } = await callTaskApi("GET", `/tasks/${id}/history`);
      const entries = z.object({ entries: z.array(z.object({ id: z.string(), type: z.string() })) }).parse(body).entries;
      expect(new Set(entries.map((e) => e.id)).size).toBe(entries.length);
      expect(entries.map((e) => e.type).sort()).toEqual(["reminder.due.v1", "reminder.scheduled.v1", "reminder.sent.v1", "task.created.v1"]);
    }
    const view = await dashboardView();
    for (const service of CONSUMERS) expect(view.get(service)!.totalLag, service).toBe(0);
    const asked = events.filter((e): e is Extract<ReplicaEvent, { kind: "desired" }> => e.kind === "desired" && e.service === Service.NotificationService);
    expect(Math.max(...asked.map((e) => e.replicas))).toBeGreaterThanOrEqual(2);
    // At zero the copies are being stopped (sidecar first, then the app finishing its work within its grace period).
    const stopped = [...CONSUMERS].flatMap((service) => [...(pids.get(service) ?? [])].map((pid) => ({ service, pid })));
    await waitUntil(
      `the stopped copies' processes (${stopped.map((s) => `${s.service} ${s.pid}`).join(", ")}) to exit`,
      async () => stopped.every(({ pid }) => !alive(pid)),
      {
        timeoutMs: 30_000,
        intervalMs: 200,
      },
    );
  }, 240_000);

  it("wakes recurring-task-service from zero on a burst: one next occurrence per completed task, then zero after the cooldown", async () => {
    const before = events.length;
    const completed: string[] = [];
    for (let i = 0; i < 3; i++) {
      const id = await createTask({ title: `water ${i}`, dueAt: "2031-05-10T07:30:00.000Z", recurrence: { frequency: "daily" } });
      expect((await callTaskApi("POST", `/tasks/${id}/complete`)).status).toBe(200);
      completed.push(id);
    }
    const tasks = async () =>
      z
        .object({ tasks: z.array(z.object({ id: z.string(), seriesId: z.string().optional(), occurrence: z.number().optional() })) })
        .parse((await callTaskApi("GET", "/tasks?sort=dueAt")).body).tasks;
    await waitUntil(
      "a next occurrence for every completed task",
      async () => {
        const all = await tasks();
        return completed.every((id) => all.some((t) => t.seriesId === id && t.occurrence === 2));
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );

    const woke = events.slice(before).find((e) => e.kind === "desired" && e.service === Service.RecurringTaskService && e.replicas >= 1);
    expect(woke, "KEDA asked for recurring-task-service").toBeDefined();
    await allAtZero(90_000);
    const all = await tasks();
    for (const id of completed)
      expect(
        all
          .filter((t) => t.seriesId === id)
          .map((t) => t.occurrence)
          .sort(),
      ).toEqual([1, 2]);
    const copies = [...(pids.get(Service.RecurringTaskService) ?? [])];
    await waitUntil(`recurring-task-service's processes (${copies.join(", ")}) to exit`, async () => copies.every((pid) => !alive(pid)), {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    expect(pids.get(Service.RecurringTaskService)?.size ?? 0).toBeGreaterThan(0);
  }, 180_000);
});
