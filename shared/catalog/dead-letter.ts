import { z } from "zod";
import { CloudEventEnvelope, defineEvent } from "./cloudevent.ts";
import { deadLetterTopicOf } from "./names.ts";

/**
 * What a consumer writes to its dead-letter topic when it gives up on an event:
 * the original event untouched, and why. The record travels as a CloudEvent of
 * type DEAD_LETTER_TYPE, keyed like the original (its subject).
 *
 * A dead-letter topic may also hold original events as Dapr itself forwards
 * them (no record around them) when its resiliency retries run out first, for
 * example after a consumer restarted mid-retry: readers must accept both, and
 * read them with parseDeadLetter below (the dead-letter tool, lag-dashboard).
 */
export const DEAD_LETTER_TYPE = "consumer.dead-lettered.v1";

export const DeadLetterKind = z.enum([
  /** Not a CloudEvent we can read. */
  "invalid-envelope",
  /** A known event type whose data fails its schema. */
  "invalid-data",
  /** The handler said retrying cannot help. */
  "permanent",
  /** Transient failures until the delivery attempts ran out. */
  "retries-exhausted",
]);
export type DeadLetterKind = z.infer<typeof DeadLetterKind>;

export const DeadLetterRecord = z.object({
  service: z.string(),
  topic: z.string(),
  kind: DeadLetterKind,
  reason: z.string(),
  attempts: z.number().int().min(1),
  deadLetteredAt: z.string(),
  /** The event as it was delivered. */
  event: z.unknown(),
});
export type DeadLetterRecord = z.infer<typeof DeadLetterRecord>;

/** The dead-letter records of one consumer, as an event definition (what its host publishes). */
export const deadLetterEventOf = (service: string) => defineEvent({ topic: deadLetterTopicOf(service), type: DEAD_LETTER_TYPE, schema: DeadLetterRecord });

/**
 * How an event came to the dead-letter topic:
 * - a DeadLetterKind: the function host wrapped it in a DeadLetterRecord with the reason;
 * - "forwarded-by-dapr": Dapr forwarded the original itself (its own retries ran out,
 *   or it could not deliver it), so the reason is unknown;
 * - "unreadable-record": a record of type DEAD_LETTER_TYPE whose data is not a DeadLetterRecord.
 */
export type EntryKind = DeadLetterKind | "forwarded-by-dapr" | "unreadable-record";

export const FORWARDED_REASON = "unknown: forwarded by Dapr itself (its delivery retries ran out, or it could not deliver the event)";

/** One record of a dead-letter topic, whatever its shape, as readers list it. Plain JSON (null for unknown). */
export interface DeadLetterEntry {
  kind: EntryKind;
  /** The original event's id (what the dead-letter tool's `replay --id` selects). */
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

const stringField = (value: unknown, field: string): string | null => {
  if (typeof value !== "object" || value === null) return null;
  const v = (value as Record<string, unknown>)[field];
  return typeof v === "string" && v !== "" ? v : null;
};

const issuesOf = (error: z.ZodError): string => error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");

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
