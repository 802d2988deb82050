/**
 * The fault matrix on the real stack: each fault of `npm run chaos` injected
 * in the middle third of a short mixed load, on a stack of its own (so a
 * broker or scheduler restart disturbs no other test), then every
 * acknowledged write reconciled against its effects and its events on the
 * topics: nothing lost, nothing done twice. The one allowance is the
 * documented one: a webhook receiver may see a POST again with an
 * Idempotency-Key it already had.
 */
import { describe, expect, it } from "vitest";
import { Service } from "../../shared/catalog/names.ts";
import { runChaos, totals, type ChaosReport } from "../../tools/chaos/chaos.ts";
import type { FaultName } from "../../tools/chaos/faults.ts";

const run = (fault: FaultName, durationS = 18, extra: { outboxLeaseMs?: number; env?: Record<string, Record<string, string>> } = {}) =>
  runChaos({
    fault,
    rate: 10,
    durationS,
    warmupS: 3,
    users: 20,
    name: `test-chaos/${fault}`,
    rssIntervalMs: 5_000,
    log: (line) => console.log(`[${fault}] ${line}`),
    ...extra,
  });

/** What every fault must show: each step ran, nothing lost or duplicated, no 5xx but 503, every refusal with Retry-After. */
const expectAccountedFor = (r: ChaosReport) => {
  expect(r.window.steps.filter((s) => s.error)).toEqual([]);
  expect(r.writes.acknowledged).toBeGreaterThan(50);
  expect(r.effects.auditEntries.expected).toBeGreaterThan(50);
  expect(r.effects.taskEvents.expected).toBe(r.effects.auditEntries.expected);
  expect(totals(r), JSON.stringify({ effects: r.effects, notes: r.notes })).toEqual({ lost: 0, duplicated: 0 });
  expect(r.writes.serverErrors).toBe(0);
  expect(r.writes.refusedWithoutRetryAfter).toBe(0);
  expect(r.outOfOrderTasks).toBe(0);
  expect(r.deadLetters.created).toBe(0);
};

describe("fault matrix: every acknowledged write accounted for", () => {
  it("none: the load alone", async () => {
    const r = await run("none");
    expectAccountedFor(r);
    expect(r.writes.refusedDuringFaultByStatus).toEqual({});
    expect(r.receiverRepeats).toBe(0);
  }, 120_000);

  it("state-store: claims refused for the window; reminders wait for the store, not dead-lettered, and are sent once", async () => {
    // An 8 s outage against 2 delivery attempts stands for the CLI's 30 s against 8: a store out of
    // reach must not spend an event's attempts, however long it lasts within Dapr's retry window.
    const r = await run("state-store", 24, { env: { [Service.NotificationService]: { DELIVERY_MAX_ATTEMPTS: "2" } } });
    expectAccountedFor(r);
    expect(r.effects.reminders.expected).toBeGreaterThan(0);
    expect(r.receiverRepeats).toBe(0);
  }, 150_000);

  it("cosmos: writes refused 503 with Retry-After while it is out, never a 500 or an acknowledged write lost; the audit trail catches up", async () => {
    // 6 s out against 2 delivery attempts stands for the CLI's 30 s against 8: audit-service waits for its store.
    const r = await run("cosmos", 18, { env: { [Service.AuditService]: { DELIVERY_MAX_ATTEMPTS: "2" } } });
    expectAccountedFor(r);
    expect(Object.keys(r.writes.refusedDuringFaultByStatus)).toEqual(["503"]);
  }, 180_000);

  it("task-api-kill: SIGKILLed mid-burst and restarted; what it acknowledged is published", async () => {
    const r = await run("task-api-kill");
    expectAccountedFor(r);
    expect(r.writes.refusedDuringFaultByStatus["network"] ?? 0).toBeGreaterThan(0); // it did die under load
  }, 120_000);

  it("task-api-takeover: a second copy takes over the dead one's outbox once its lease runs out", async () => {
    const r = await run("task-api-takeover", 18, { outboxLeaseMs: 4_000 });
    expectAccountedFor(r);
    expect(r.writes.acknowledgedDuringFault).toBeGreaterThan(0);
  }, 120_000);

  it("broker-restart: the broker restarted under live consumer groups", async () => {
    const r = await run("broker-restart");
    expectAccountedFor(r);
    expect(r.writes.refusedDuringFaultByStatus).toEqual({}); // the outbox holds what the broker cannot take
  }, 150_000);

  it("consumer-rebalance: a copy of each consumer SIGKILLed, another added; effects once, per-task order kept", async () => {
    const r = await run("consumer-rebalance");
    expectAccountedFor(r);
  }, 150_000);

  it("scheduler-restart: reminder jobs pending while the scheduler is down still fire, once", async () => {
    const r = await run("scheduler-restart");
    expectAccountedFor(r);
    expect(r.effects.reminders.expected).toBeGreaterThan(0);
  }, 120_000);

  it("slow-receiver: slower than the claim lease, then 500s: no reminder lost, none sent under two keys", async () => {
    const r = await run("slow-receiver");
    expectAccountedFor(r);
    expect(r.effects.reminders.expected).toBeGreaterThan(0);
  }, 150_000);
});
