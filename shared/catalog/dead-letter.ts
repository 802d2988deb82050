import { z } from "zod";
import { defineEvent } from "./cloudevent.ts";
import { deadLetterTopicOf } from "./names.ts";

/**
 * What a consumer writes to its dead-letter topic when it gives up on an event:
 * the original event untouched, and why. The record travels as a CloudEvent of
 * type DEAD_LETTER_TYPE, keyed like the original (its subject).
 *
 * A dead-letter topic may also hold original events as Dapr itself forwards
 * them (no record around them) when its resiliency retries run out first, for
 * example after a consumer restarted mid-retry: readers must accept both.
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

/** The dead-letter records of one consumer, as an event definition (for readers of its dead-letter topic). */
export const deadLetterEventOf = (service: string) =>
  defineEvent({ topic: deadLetterTopicOf(service), type: DEAD_LETTER_TYPE, schema: DeadLetterRecord });
