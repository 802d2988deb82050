/** audit-service's rule, in memory through testConsumer: every event becomes one entry of its task's trail. */
import { describe, expect, it } from "vitest";
import type { AuditLog } from "../../../functions/audit-service/audit-log.ts";
import { onAnyEvent } from "../../../functions/audit-service/on-any-event.ts";
import { AuditEntry } from "../../../shared/catalog/audit.ts";
import type { EventDef } from "../../../shared/catalog/cloudevent.ts";
import { ALL_EVENTS, ReminderCancelled, TaskCreated, TaskUpdated } from "../../../shared/catalog/events.ts";
import { Service } from "../../../shared/catalog/names.ts";
import type { TaskSnapshot } from "../../../shared/catalog/task.ts";
import type { Consumer } from "../../../shared/host/define.ts";
import { testConsumer } from "../../../shared/testing/test-consumer.ts";

/** The audit trail in memory, with the container's rule: one entry per id. */
class MemoryAuditLog implements AuditLog {
  readonly entries = new Map<string, AuditEntry>();
  async append(entry: AuditEntry): Promise<boolean> {
    if (this.entries.has(entry.id)) return false;
    this.entries.set(entry.id, AuditEntry.parse(entry));
    return true;
  }
}

const NOW = new Date("2030-01-01T10:00:00.500Z");
const WRITTEN = "2030-01-01T10:00:00.000Z";

const task: TaskSnapshot = {
  id: "task-1",
  userId: "ada",
  title: "File the report",
  priority: "high",
  tags: [],
  status: "open",
  dueAt: "2030-01-05T09:00:00.000Z",
  createdAt: WRITTEN,
  updatedAt: WRITTEN,
};

const setup = () => {
  const entries = new MemoryAuditLog();
  const consumers = onAnyEvent({ entries });
  const consumerOf = <E extends EventDef>(def: E) => consumers.find((c) => c.event === def) as Consumer<E>;
  return { entries, consumerOf, fakes: { clock: () => NOW, service: Service.AuditService } };
};

describe("audit-service: every event", () => {
  it("has a consumer for every event of the catalog", () => {
    expect(onAnyEvent({ entries: new MemoryAuditLog() }).map((c) => c.event.type)).toEqual(ALL_EVENTS.map((e) => e.type));
  });

  it("records the event as one entry: its ids, its time and place in its write as the producer stamped them, and what it changed", async () => {
    const { entries, consumerOf, fakes } = setup();
    const run = await testConsumer(
      consumerOf(TaskUpdated),
      {
        id: "evt-2",
        source: Service.TaskApi,
        time: "2030-01-01T11:00:00+01:00",
        writeSeq: 3,
        correlationId: "req-1",
        data: { taskId: "task-1", userId: "ada", task, changes: { title: { from: "Report", to: "File the report" } } },
      },
      fakes,
    );
    expect(run.outcome).toBe("handled");
    expect([...entries.entries.values()]).toEqual([
      {
        id: "evt-2",
        taskId: "task-1",
        userId: "ada",
        type: TaskUpdated.type,
        source: Service.TaskApi,
        topic: TaskUpdated.topic,
        time: WRITTEN,
        writeSeq: 3,
        correlationId: "req-1",
        change: { title: { from: "Report", to: "File the report" } },
        recordedAt: NOW.toISOString(),
      },
    ]);
    expect(run.published).toEqual([]);
  });

  it("keeps one entry for a redelivered event, the first as it was", async () => {
    const { entries, consumerOf, fakes } = setup();
    const event = { id: "evt-1", data: { taskId: "task-1", userId: "ada", task } };
    await testConsumer(consumerOf(TaskCreated), event, fakes);
    const again = await testConsumer(consumerOf(TaskCreated), event, { ...fakes, clock: () => new Date("2030-01-02T00:00:00.000Z") });
    expect(again.outcome).toBe("handled");
    expect([...entries.entries.values()].map((e) => [e.id, e.recordedAt])).toEqual([["evt-1", NOW.toISOString()]]);
  });

  it("records only what the event said (no absent fields) and the causation when there is one", async () => {
    const { entries, consumerOf, fakes } = setup();
    await testConsumer(consumerOf(TaskCreated), { id: "evt-3", data: { taskId: "task-1", userId: "ada", task } }, fakes);
    await testConsumer(
      consumerOf(ReminderCancelled),
      { id: "evt-4", causationId: "evt-3", data: { taskId: "task-1", userId: "ada", remindAt: WRITTEN, reason: "completed" } },
      fakes,
    );
    expect(entries.entries.get("evt-3")?.change).toEqual({ title: "File the report", status: "open", priority: "high", dueAt: task.dueAt });
    expect(entries.entries.get("evt-4")).toMatchObject({ causationId: "evt-3", writeSeq: 0, change: { remindAt: WRITTEN, reason: "completed" } });
  });

  it("lets a failing store fail the delivery, so the host retries it", async () => {
    const { fakes } = setup();
    const broken = onAnyEvent({ entries: { append: async () => Promise.reject(new Error("store out of reach")) } });
    const consumer = broken.find((c) => c.event === TaskCreated) as Consumer<typeof TaskCreated>;
    const run = await testConsumer(consumer, { data: { taskId: "task-1", userId: "ada", task } }, fakes);
    expect(run.outcome).toBe("failed");
  });
});
