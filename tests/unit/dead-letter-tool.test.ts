import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEAD_LETTER_TYPE, FORWARDED_REASON, parseDeadLetter, type DeadLetterEntry, type DeadLetterRecord } from "../../shared/catalog/dead-letter.ts";
import { CONSUMERS, PUBSUB, Service, Topic } from "../../shared/catalog/names.ts";
import { rawRoute, rawSubscriptionsOf, recordKey, recordTextOf } from "../../shared/host/raw-subscription.ts";
import { buildToolApp, Collector, toolFunction } from "../../tools/dead-letter/app.ts";
import { parseCommand, UsageError } from "../../tools/dead-letter/args.ts";
import { formatList, formatReplay, replayPlanOf, ReplayError, selectForReplay } from "../../tools/dead-letter/records.ts";
import { brokersOf } from "../../tools/dead-letter/stack.ts";
import { renderToolResources } from "../../tools/dead-letter/target.ts";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

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
    const entry = parseDeadLetter(text(wrapped(original("e2"), { kind: "retries-exhausted", attempts: 4, reason: "Error: database unavailable" })));
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
    expect(rawSubscriptionsOf({ topics: ["a.dlq"], receive: () => undefined })).toEqual([
      { pubsubname: PUBSUB, topic: "a.dlq", route: "/raw/a.dlq", metadata: { rawPayload: "true" } },
    ]);
  });

  it("the tool's app is the host's: only its sidecar is answered, and every record is kept and answered SUCCESS, either shape", async () => {
    const collector = new Collector(["a.dlq"]);
    const app = await buildToolApp(toolFunction("dead-letter-tool-test", ["a.dlq"], collector), "t".repeat(32));
    const headers = { "dapr-api-token": "t".repeat(32), "content-type": "application/cloudevents+json" };
    const deliver = (bytes: string, offset: string) =>
      app.inject({
        method: "POST",
        url: rawRoute("a.dlq"),
        headers: { ...headers, __offset: offset },
        payload: JSON.stringify({ data_base64: Buffer.from(bytes).toString("base64") }),
      });
    expect((await app.inject({ method: "GET", url: "/dapr/subscribe" })).statusCode).toBe(401);
    expect((await app.inject({ method: "GET", url: "/dapr/subscribe", headers })).json()).toEqual(
      rawSubscriptionsOf({ topics: ["a.dlq"], receive: () => undefined }),
    );
    const host = text(wrapped(asPublishedByDapr(original("e1"), Topic.TaskEvents)));
    for (const [bytes, offset] of [
      [host, "1"],
      ["not json", "2"],
      [host, "1"],
    ] as const) {
      const res = await deliver(bytes, offset);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toEqual({ status: "SUCCESS" });
    }
    expect(collector.entries("a.dlq").map((e) => e.kind)).toEqual(["permanent", "forwarded-by-dapr"]);
    await app.close();
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
      acknowledged: false,
    });
    expect(out).toContain("replayed 1 event to their original topics (audit-service.dlq is unchanged)");
    expect(out).not.toContain("acknowledged");
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

  it("acknowledges the consumers named, never all by default", () => {
    expect(parseCommand(["ack", "--consumer", Service.AuditService, "--consumer", Service.AuditService], CONSUMERS)).toEqual({
      command: "ack",
      consumers: [Service.AuditService],
      json: false,
    });
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
    [["ack"], /ack needs --consumer/],
    [["ack", "--consumer", Service.AuditService, "--all"], /ack takes no --id or --all/],
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
    const yaml = ["  metadata:", "    - name: brokers", '      value: "127.0.0.1:9092,127.0.0.1:9094"', "    - name: authType", '      value: "none"'].join(
      "\n",
    );
    expect(brokersOf(yaml)).toBe("127.0.0.1:9092,127.0.0.1:9094");
    expect(brokersOf("nothing here")).toBeUndefined();
  });
});

describe("the Dapr resources the tool renders for a cluster's Kafka", () => {
  const render = (access: Parameters<typeof renderToolResources>[0]) => {
    const dir = mkdtempSync(join(tmpdir(), "dlq-render-"));
    try {
      const { resourcesPath, configFile } = renderToolResources(access, dir);
      const pubsub = parse(readFileSync(join(resourcesPath, "pubsub.yaml"), "utf8")) as {
        metadata: { name: string };
        spec: { metadata: { name: string; value?: string; secretKeyRef?: { name: string; key: string } }[] };
        auth?: { secretStore: string };
      };
      const meta = Object.fromEntries(pubsub.spec.metadata.map((m) => [m.name, m.value]));
      const modes = [join(resourcesPath, "pubsub.yaml"), configFile].map((f) => statSync(f).mode & 0o777);
      return { pubsub, meta, modes, dirMode: statSync(dir).mode & 0o777 };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it("SCRAM over TLS: Dapr's spelling of the mechanism (SHA-256, not SCRAM-SHA-256, which Dapr takes for PLAIN); files only the user reads", () => {
    const { pubsub, meta, modes, dirMode } = render({ brokers: ["seed:9092"], ssl: true, sasl: { mechanism: "scram-sha-256", username: "u", password: "p" } });
    expect(pubsub.metadata.name).toBe(PUBSUB);
    expect(meta).toMatchObject({
      brokers: "seed:9092",
      authType: "password",
      saslUsername: "u",
      saslPassword: "p",
      saslMechanism: "SHA-256",
      initialOffset: "oldest",
    });
    expect(meta["disableTls"]).toBeUndefined();
    expect(modes).toEqual([0o600, 0o600]);
    expect(dirMode).toBe(0o700);
  });

  it("PLAIN without TLS (a local broker), and no SASL at all", () => {
    expect(render({ brokers: ["127.0.0.1:1"], ssl: false, sasl: { mechanism: "plain", username: "u", password: "p" } }).meta).toMatchObject({
      saslMechanism: "PLAIN",
      disableTls: "true",
    });
    expect(render({ brokers: ["127.0.0.1:1"], ssl: false }).meta).toMatchObject({ authType: "none" });
  });
});
