/**
 * The pure part of the dead-letter tool: what a dead-letter topic record says,
 * which original event a replay publishes, and how both are printed.
 */
import { createHash } from "node:crypto";
import type { z } from "zod";
import { CloudEventEnvelope } from "../../shared/catalog/cloudevent.ts";
import { DEAD_LETTER_TYPE, DeadLetterRecord, type DeadLetterKind } from "../../shared/catalog/dead-letter.ts";

/**
 * How an event came to the dead-letter topic:
 * - a DeadLetterKind: the function host wrapped it in a DeadLetterRecord with the reason;
 * - "forwarded-by-dapr": Dapr forwarded the original itself (its own retries ran out,
 *   or it could not deliver it), so the reason is unknown;
 * - "unreadable-record": a record of type DEAD_LETTER_TYPE whose data is not a DeadLetterRecord.
 */
export type EntryKind = DeadLetterKind | "forwarded-by-dapr" | "unreadable-record";

export const FORWARDED_REASON = "unknown: forwarded by Dapr itself (its delivery retries ran out, or it could not deliver the event)";

/** One record of a dead-letter topic, as the tool lists it. Plain JSON (null for unknown). */
export interface DeadLetterEntry {
  kind: EntryKind;
  /** The original event's id: what `replay --id` selects. */
  eventId: string | null;
  type: string | null;
  /** The task id (the original event's subject, its partition key). */
  subject: string | null;
  /** The topic the original event was delivered from, where a replay publishes it. */
  topic: string | null;
  reason: string;
  attempts: number | null;
  deadLetteredAt: string | null;
  /** The original event as the consumer received it. */
  event: unknown;
}

/** The attributes Dapr adds to an envelope when it publishes; it sets them again on a replay. */
export const DAPR_ATTRIBUTES = ["topic", "pubsubname", "traceid", "traceparent", "tracestate"] as const;

const stringField = (value: unknown, field: string): string | null => {
  if (typeof value !== "object" || value === null) return null;
  const v = (value as Record<string, unknown>)[field];
  return typeof v === "string" && v !== "" ? v : null;
};

const issuesOf = (error: z.ZodError): string =>
  error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");

/**
 * Dapr delivers the records of a raw-payload subscription wrapped in an envelope
 * of its own, the record's bytes in `data_base64`: returns those bytes as text.
 */
export const recordTextOf = (delivery: unknown): string => {
  const base64 = stringField(delivery, "data_base64");
  if (base64 !== null) return Buffer.from(base64, "base64").toString("utf8");
  if (typeof delivery === "object" && delivery !== null && "data" in delivery) {
    const data = (delivery as { data: unknown }).data;
    return typeof data === "string" ? data : JSON.stringify(data);
  }
  return typeof delivery === "string" ? delivery : JSON.stringify(delivery);
};

/** Reads one dead-letter topic record (its value as text): either shape, never throws. */
export const parseDeadLetter = (text: string): DeadLetterEntry => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return {
      kind: "forwarded-by-dapr",
      eventId: null,
      type: null,
      subject: null,
      topic: null,
      reason: `${FORWARDED_REASON}; the record is not JSON`,
      attempts: null,
      deadLetteredAt: null,
      event: text,
    };
  }

  if (stringField(value, "type") === DEAD_LETTER_TYPE) {
    const data = (value as { data?: unknown }).data;
    const record = DeadLetterRecord.safeParse(data);
    if (record.success) {
      const r = record.data;
      return {
        kind: r.kind,
        eventId: stringField(r.event, "id"),
        type: stringField(r.event, "type"),
        subject: stringField(r.event, "subject"),
        topic: r.topic,
        reason: r.reason,
        attempts: r.attempts,
        deadLetteredAt: r.deadLetteredAt,
        event: r.event,
      };
    }
    const event = typeof data === "object" && data !== null ? (data as { event?: unknown }).event : undefined;
    return {
      kind: "unreadable-record",
      eventId: stringField(event, "id"),
      type: stringField(event, "type"),
      subject: stringField(event, "subject") ?? stringField(value, "subject"),
      topic: stringField(data, "topic"),
      reason: `not a dead-letter record: ${issuesOf(record.error)}`,
      attempts: null,
      deadLetteredAt: stringField(data, "deadLetteredAt") ?? stringField(value, "time"),
      event: event ?? null,
    };
  }

  const envelope = CloudEventEnvelope.safeParse(value);
  return {
    kind: "forwarded-by-dapr",
    eventId: stringField(value, "id"),
    type: stringField(value, "type"),
    subject: stringField(value, "subject"),
    // Dapr wrote the topic it was published to into the envelope.
    topic: stringField(value, "topic"),
    reason: envelope.success ? FORWARDED_REASON : `${FORWARDED_REASON}; not a CloudEvent: ${issuesOf(envelope.error)}`,
    attempts: null,
    deadLetteredAt: null,
    event: value,
  };
};

/** Identifies a delivered record, so a redelivery of the same record is listed once. */
export const recordKey = (text: string, headers: Record<string, string | string[] | undefined>): string => {
  const position = ["__topic", "__partition", "__offset", "__key"].map((h) => String(headers[h] ?? "")).join("/");
  return createHash("sha256").update(position).update("\n").update(text).digest("hex");
};

export type ReplayPlan =
  | { ok: true; topic: string; event: CloudEventEnvelope }
  | { ok: false; reason: string };

/**
 * What a replay publishes for an entry: the original envelope unchanged (same id,
 * so consumers de-duplicate), minus the attributes Dapr adds itself, to the topic
 * it was delivered from.
 */
export const replayPlanOf = (entry: DeadLetterEntry): ReplayPlan => {
  if (entry.kind === "unreadable-record") return { ok: false, reason: "the dead-letter record cannot be read" };
  if (entry.topic === null) return { ok: false, reason: "the original topic is unknown" };
  const envelope = CloudEventEnvelope.safeParse(entry.event);
  if (!envelope.success) return { ok: false, reason: `the original is not a CloudEvent: ${issuesOf(envelope.error)}` };
  const event: Record<string, unknown> = { ...envelope.data };
  for (const attribute of DAPR_ATTRIBUTES) delete event[attribute];
  return { ok: true, topic: entry.topic, event: event as CloudEventEnvelope };
};

export interface ReplayItem {
  eventId: string;
  type: string;
  subject: string | null;
  topic: string;
  event: CloudEventEnvelope;
}

export interface ReplaySelection {
  replay: ReplayItem[];
  /** With `all`: entries that cannot be replayed, and why. */
  skipped: { eventId: string | null; reason: string }[];
}

export class ReplayError extends Error {
  override readonly name = "ReplayError";
}

/**
 * Picks what to replay: every replayable entry (`all`) or the entries of the
 * given event ids. An id that is not there or cannot be replayed fails the whole
 * selection, so nothing is published. An id dead-lettered more than once is
 * replayed once (its latest record).
 */
export const selectForReplay = (entries: DeadLetterEntry[], ids: string[] | "all"): ReplaySelection => {
  const latest = new Map<string, ReplayItem>();
  const skipped: ReplaySelection["skipped"] = [];
  for (const entry of entries) {
    const plan = replayPlanOf(entry);
    if (!plan.ok) {
      skipped.push({ eventId: entry.eventId, reason: plan.reason });
      continue;
    }
    const { id, type } = plan.event;
    latest.set(id, { eventId: id, type, subject: entry.subject, topic: plan.topic, event: plan.event });
  }
  if (ids === "all") return { replay: [...latest.values()], skipped };

  const problems: string[] = [];
  const picked: ReplayItem[] = [];
  for (const id of new Set(ids)) {
    const found = latest.get(id);
    if (found) {
      picked.push(found);
      continue;
    }
    const why = skipped.find((s) => s.eventId === id);
    problems.push(why ? `${id}: cannot be replayed (${why.reason})` : `${id}: not on the dead-letter topic`);
  }
  if (problems.length > 0) throw new ReplayError(`nothing replayed:\n  ${problems.join("\n  ")}`);
  return { replay: picked, skipped: [] };
};

// ---------------------------------------------------------------- output

export interface ConsumerDeadLetters {
  consumer: string;
  deadLetterTopic: string;
  entries: DeadLetterEntry[];
}

const MAX_REASON = 100;

const table = (header: string[], rows: string[][]): string[] => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
};

const shorten = (text: string, max: number): string => {
  const oneLine = text.replace(/\s+/g, " ");
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
};

/** One table per consumer: event id, type, task, kind, attempts, dead-lettered at, reason. */
export const formatList = (results: ConsumerDeadLetters[]): string => {
  const out: string[] = [];
  for (const { consumer, deadLetterTopic, entries } of results) {
    const count = entries.length === 1 ? "1 dead-lettered event" : `${entries.length} dead-lettered events`;
    out.push(`${consumer} (${deadLetterTopic}): ${entries.length === 0 ? "no dead-lettered events" : count}`);
    if (entries.length > 0) {
      const rows = entries.map((e) => [
        e.eventId ?? "-",
        e.type ?? "-",
        e.subject ?? "-",
        e.kind,
        e.attempts === null ? "-" : String(e.attempts),
        e.deadLetteredAt ?? "-",
        shorten(e.reason, MAX_REASON),
      ]);
      out.push(...table(["EVENT ID", "TYPE", "TASK", "KIND", "ATTEMPTS", "DEAD-LETTERED AT", "REASON"], rows).map((l) => `  ${l}`));
    }
    out.push("");
  }
  return out.join("\n");
};

export interface ReplayResult {
  consumer: string;
  deadLetterTopic: string;
  replayed: { eventId: string; type: string; subject: string | null; topic: string }[];
  skipped: { eventId: string | null; reason: string }[];
}

export const formatReplay = (result: ReplayResult): string => {
  const out: string[] = [];
  const n = result.replayed.length;
  out.push(
    `${result.consumer}: replayed ${n === 1 ? "1 event" : `${n} events`} to their original topics (${result.deadLetterTopic} is unchanged)`,
  );
  if (n > 0) {
    const rows = result.replayed.map((r) => [r.eventId, r.type, r.subject ?? "-", `-> ${r.topic}`]);
    out.push(...table(["EVENT ID", "TYPE", "TASK", "TOPIC"], rows).map((l) => `  ${l}`));
  }
  if (result.skipped.length > 0) {
    out.push(`skipped ${result.skipped.length} that cannot be replayed:`);
    for (const s of result.skipped) out.push(`  ${s.eventId ?? "-"}: ${s.reason}`);
  }
  out.push("");
  return out.join("\n");
};
