import { describe, expect, it } from "vitest";
import { DEAD_LETTER_TYPE, type DeadLetterRecord } from "../../shared/catalog/dead-letter.ts";
import { CONSUMERS, PUBSUB, Service, Topic } from "../../shared/catalog/names.ts";
import { toolSubscriptions } from "../../tools/dead-letter/app.ts";
import { parseCommand, UsageError } from "../../tools/dead-letter/args.ts";
import {
  FORWARDED_REASON,
  formatList,
  formatReplay,
  parseDeadLetter,
  recordKey,
  recordTextOf,
  replayPlanOf,
  ReplayError,
  selectForReplay,
  type DeadLetterEntry,
} from "../../tools/dead-letter/records.ts";
import { brokersOf } from "../../tools/dead-letter/stack.ts";

const original = (id: string, extra: Record<string, unknown> = {}) => ({
  specversion: "1.0",
  id,
  source: Service.TaskApi,
  type: "task.created.v1",
  subject: `task-${id}`,
  time: "2025-03-01T10:00:00.000Z",
  datacontenttype: "application/json",
  correlationid: `corr-${id}`,
  data: { taskId: `task-${id}`, title: "Water the plants" },
  ...extra,
});

/** As Dapr stores an event it published: with its own attributes added. */
const asPublishedByDapr = <T extends object>(event: T, topic: string) => ({
  ...event,
  topic,
  pubsubname: PUBSUB,
  traceid: "00-abc-def-01",
  traceparent: "00-abc-def-01",
  tracestate: "",
});

/** A record as the function host writes it to a dead-letter topic. */
const wrapped = (event: unknown, overrides: Partial<DeadLetterRecord> = {}) =>
  asPublishedByDapr(
    {
      specversion: "1.0",
      id: "dlq-record-id",
      source: Service.AuditService,
      type: DEAD_LETTER_TYPE,
      subject: "task-e1",
      time: "2025-03-01T10:00:05.000Z",
      datacontenttype: "application/json",
      data: {
        service: Service.AuditService,
        topic: Topic.TaskEvents,
        kind: "permanent",
        reason: "the task's owner is unknown",
        attempts: 1,
        deadLetteredAt: "2025-03-01T10:00:05.000Z",
        event,
        ...overrides,
      },
    },
    `${Service.AuditService}.dlq`,
  );

const text = (value: unknown) => JSON.stringify(value);

describe("reading dead-letter records", () => {
  it("reads a record written by the host: the original event's id, type, task, topic, kind, reason and attempts", () => {
    const event = asPublishedByDapr(original("e1"), Topic.TaskEvents);
    expect(parseDeadLetter(text(wrapped(event)))).toEqual({
      kind: "permanent",
      eventId: "e1",
      type: "task.created.v1",
      subject: "task-e1",
      topic: Topic.TaskEvents,
      reason: "the task's owner is unknown",
      attempts: 1,
      deadLetteredAt: "2025-03-01T10:00:05.000Z",
      event,
    });
  });

  it("reads a retries-exhausted record with its attempts and last error", () => {
    const entry = parseDeadLetter(
      text(wrapped(original("e2"), { kind: "retries-exhausted", attempts: 4, reason: "Error: database unavailable" })),
    );
    expect(entry).toMatchObject({ kind: "retries-exhausted", attempts: 4, reason: "Error: database unavailable", eventId: "e2" });
  });

  it("reads an original event Dapr forwarded itself: kind forwarded-by-dapr, reason unknown, topic from Dapr's attribute", () => {
    const event = asPublishedByDapr(original("e3"), Topic.Reminders);
    expect(parseDeadLetter(text(event))).toEqual({
      kind: "forwarded-by-dapr",
      eventId: "e3",
      type: "task.created.v1",
      subject: "task-e3",
      topic: Topic.Reminders,
      reason: FORWARDED_REASON,
      attempts: null,
      deadLetteredAt: null,
      event,
    });
  });

  it("lists a forwarded record that is not JSON, or not a CloudEvent, and says so", () => {
    const notJson = parseDeadLetter("\u0000binary?");
    expect(notJson).toMatchObject({ kind: "forwarded-by-dapr", eventId: null, topic: null, event: "\u0000binary?" });
    expect(notJson.reason).toContain("not JSON");

    const notCe = parseDeadLetter(text({ hello: "world" }));
    expect(notCe).toMatchObject({ kind: "forwarded-by-dapr", eventId: null });
    expect(notCe.reason).toContain("not a CloudEvent");
  });

  it("reads a record whose original was not a CloudEvent (invalid-envelope) with what it can show", () => {
    const entry = parseDeadLetter(text(wrapped({ id: "x1", title: "no envelope" }, { kind: "invalid-envelope", reason: "specversion: Invalid input" })));
    expect(entry).toMatchObject({ kind: "invalid-envelope", eventId: "x1", type: null, reason: "specversion: Invalid input" });
  });

  it("marks a dead-letter-typed record whose data is not a DeadLetterRecord as unreadable-record", () => {
    const record = wrapped(original("e4"));
    const broken = { ...record, data: { ...record.data, kind: "exploded", attempts: 0 } };
    const entry = parseDeadLetter(text(broken));
    expect(entry.kind).toBe("unreadable-record");
    expect(entry.eventId).toBe("e4");
    expect(entry.reason).toContain("kind");
    expect(replayPlanOf(entry)).toMatchObject({ ok: false });
  });

  it("takes the record's bytes from Dapr's raw-payload delivery", () => {
    const value = text(wrapped(original("e5")));
    const delivery = { id: "random", type: "com.dapr.event.sent", data_base64: Buffer.from(value).toString("base64") };
    expect(recordTextOf(delivery)).toBe(value);
    expect(recordTextOf({ data: { a: 1 } })).toBe('{"a":1}');
  });

  it("keys a record by its bytes and position, so a redelivery is listed once", () => {
    const h = { __topic: "a.dlq", __partition: "0", __offset: "7" };
    expect(recordKey("x", h)).toBe(recordKey("x", { ...h }));
    expect(recordKey("x", h)).not.toBe(recordKey("x", { ...h, __offset: "8" }));
    expect(recordKey("x", h)).not.toBe(recordKey("y", h));
  });

  it("subscribes with raw payloads and no dead-letter topic of its own", () => {
    expect(toolSubscriptions(["a.dlq"])).toEqual([
      { pubsubname: PUBSUB, topic: "a.dlq", route: "/dead-letters/a.dlq", metadata: { rawPayload: "true" } },
    ]);
  });
});

describe("choosing what to replay", () => {
  const host = parseDeadLetter(text(wrapped(asPublishedByDapr(original("e1"), Topic.TaskEvents))));
  const forwarded = parseDeadLetter(text(asPublishedByDapr(original("e2"), Topic.Reminders)));
  const unreplayable = parseDeadLetter(text(wrapped({ id: "x1" }, { kind: "invalid-envelope" })));

  it("replays the original envelope unchanged but for Dapr's own attributes, to its original topic", () => {
    expect(replayPlanOf(host)).toEqual({ ok: true, topic: Topic.TaskEvents, event: original("e1") });
    expect(replayPlanOf(forwarded)).toEqual({ ok: true, topic: Topic.Reminders, event: original("e2") });
  });

  it("keeps extension attributes of ours", () => {
    const event = asPublishedByDapr(original("e6", { causationid: "c-1" }), Topic.TaskEvents);
    const plan = replayPlanOf(parseDeadLetter(text(wrapped(event))));
    expect(plan).toMatchObject({ ok: true, event: { id: "e6", correlationid: "corr-e6", causationid: "c-1" } });
  });

  it("refuses an original that is not a CloudEvent, or whose topic is unknown", () => {
    expect(replayPlanOf(unreplayable)).toMatchObject({ ok: false });
    const noTopic = parseDeadLetter(text(original("e7")));
    expect(replayPlanOf(noTopic)).toEqual({ ok: false, reason: "the original topic is unknown" });
  });

  it("selects by id, each id once (its latest record)", () => {
    const again: DeadLetterEntry = { ...host, reason: "dead-lettered again" };
    const { replay } = selectForReplay([host, forwarded, again], ["e1", "e1"]);
    expect(replay.map((r) => [r.eventId, r.topic, r.subject])).toEqual([["e1", Topic.TaskEvents, "task-e1"]]);
  });

  it("fails the whole selection for an unknown or unreplayable id, so nothing is published", () => {
    expect(() => selectForReplay([host], ["e1", "missing"])).toThrow(ReplayError);
    expect(() => selectForReplay([host], ["missing"])).toThrow(/missing: not on the dead-letter topic/);
    expect(() => selectForReplay([host, unreplayable], ["x1"])).toThrow(/x1: cannot be replayed/);
  });

  it("with all, replays every replayable entry and reports the rest as skipped", () => {
    const { replay, skipped } = selectForReplay([host, unreplayable, forwarded], "all");
    expect(replay.map((r) => r.eventId)).toEqual(["e1", "e2"]);
    expect(skipped).toEqual([{ eventId: "x1", reason: expect.stringContaining("not a CloudEvent") }]);
  });
});

describe("output", () => {
  it("prints a table per consumer with id, type, task, kind, attempts, time and reason", () => {
    const entries = [
      parseDeadLetter(text(wrapped(asPublishedByDapr(original("e1"), Topic.TaskEvents)))),
      parseDeadLetter(text(asPublishedByDapr(original("e2"), Topic.TaskEvents))),
    ];
    const out = formatList([
      { consumer: Service.AuditService, deadLetterTopic: "audit-service.dlq", entries },
      { consumer: Service.NotificationService, deadLetterTopic: "notification-service.dlq", entries: [] },
    ]);
    const lines = out.split("\n");
    expect(lines[0]).toBe("audit-service (audit-service.dlq): 2 dead-lettered events");
    expect(lines[1]).toMatch(/^ {2}EVENT ID +TYPE +TASK +KIND +ATTEMPTS +DEAD-LETTERED AT +REASON$/);
    expect(lines[2]).toMatch(/^ {2}e1 +task\.created\.v1 +task-e1 +permanent +1 +2025-03-01T10:00:05\.000Z +the task's owner is unknown$/);
    expect(lines[3]).toMatch(/^ {2}e2 +task\.created\.v1 +task-e2 +forwarded-by-dapr +- +- +unknown: forwarded by Dapr/);
    expect(out).toContain("notification-service (notification-service.dlq): no dead-lettered events");
  });

  it("prints what a replay published and that the dead-letter topic is unchanged", () => {
    const out = formatReplay({
      consumer: Service.AuditService,
      deadLetterTopic: "audit-service.dlq",
      replayed: [{ eventId: "e1", type: "task.created.v1", subject: "task-e1", topic: Topic.TaskEvents }],
      skipped: [{ eventId: null, reason: "the original topic is unknown" }],
    });
    expect(out).toContain("replayed 1 event to their original topics (audit-service.dlq is unchanged)");
    expect(out).toMatch(/e1 +task\.created\.v1 +task-e1 +-> task-events/);
    expect(out).toContain("-: the original topic is unknown");
  });
});

describe("arguments", () => {
  it("lists every consumer by default, or the ones named", () => {
    expect(parseCommand(["list"], CONSUMERS)).toEqual({ command: "list", consumers: [...CONSUMERS], json: false });
    expect(parseCommand(["list", "--consumer", Service.AuditService, "--json"], CONSUMERS)).toEqual({
      command: "list",
      consumers: [Service.AuditService],
      json: true,
    });
  });

  it("replays ids of one consumer, or all", () => {
    expect(parseCommand(["replay", "--consumer", Service.AuditService, "--id", "a", "--id", "b"], CONSUMERS)).toEqual({
      command: "replay",
      consumer: Service.AuditService,
      ids: ["a", "b"],
      json: false,
    });
    expect(parseCommand(["replay", "--consumer", Service.AuditService, "--all"], CONSUMERS)).toMatchObject({ ids: "all" });
  });

  it("shows help without a command, with help, or -h", () => {
    for (const argv of [[], ["help"], ["-h"], ["list", "--help"]]) expect(parseCommand(argv, CONSUMERS)).toEqual({ command: "help" });
  });

  it.each([
    [["replay", "--id", "a"], /exactly one --consumer/],
    [["replay", "--consumer", Service.AuditService], /--id <eventId> \(repeatable\) or --all/],
    [["replay", "--consumer", Service.AuditService, "--id", "a", "--all"], /not both/],
    [["replay", "--consumer", Service.AuditService, "--consumer", Service.NotificationService, "--all"], /exactly one/],
    [["list", "--consumer", "task-apii"], /unknown consumer task-apii/],
    [["list", "--id", "a"], /list takes no --id/],
    [["purge"], /unknown command purge/],
    [["list", "--frobnicate"], /frobnicate/],
    [["list", "extra"], /unexpected argument/],
  ])("rejects %j", (argv, message) => {
    expect(() => parseCommand(argv, CONSUMERS)).toThrow(UsageError);
    expect(() => parseCommand(argv, CONSUMERS)).toThrow(message);
  });
});

describe("the running stack", () => {
  it("finds the brokers in the rendered pub/sub component", () => {
    const yaml = ["  metadata:", "    - name: brokers", '      value: "127.0.0.1:9092,127.0.0.1:9094"', "    - name: authType", '      value: "none"'].join("\n");
    expect(brokersOf(yaml)).toBe("127.0.0.1:9092,127.0.0.1:9094");
    expect(brokersOf("nothing here")).toBeUndefined();
  });
});
