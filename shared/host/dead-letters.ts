/**
 * Writing a dead-letter record: what a function gives up on, with why, onto
 * its own dead-letter topic, keyed like the original. Consumers write one for
 * an event (the dispatcher); task-api for a reminder job it cannot carry out.
 */
import { createHash } from "node:crypto";
import { CloudEventEnvelope } from "../catalog/cloudevent.ts";
import { DEAD_LETTER_TYPE, type DeadLetterKind, type DeadLetterRecord } from "../catalog/dead-letter.ts";
import { deadLetterTopicOf } from "../catalog/names.ts";
import { derivedEventId } from "./define.ts";
import type { Publisher } from "./publisher.ts";

export interface DeadLetterWriter {
  readonly topic: string;
  /** Publishes the record; throws when it could not (the caller keeps the original to try again). */
  record(entry: { topic: string; kind: DeadLetterKind; reason: string; attempts: number; original: unknown }): Promise<void>;
}

export const deadLetterWriter = (service: string, publisher: Publisher): DeadLetterWriter => {
  const topic = deadLetterTopicOf(service);
  return {
    topic,
    async record({ topic: from, kind, reason, attempts, original }) {
      const parsed = CloudEventEnvelope.safeParse(original);
      const originalId = parsed.success ? parsed.data.id : hashOf(original);
      const record: DeadLetterRecord = {
        service,
        topic: from,
        kind,
        reason,
        attempts,
        deadLetteredAt: new Date().toISOString(),
        event: original,
      };
      await publisher.publish(topic, {
        specversion: "1.0",
        id: derivedEventId(originalId, DEAD_LETTER_TYPE, service),
        source: service,
        type: DEAD_LETTER_TYPE,
        subject: parsed.success ? (parsed.data.subject ?? originalId) : originalId,
        time: record.deadLetteredAt,
        datacontenttype: "application/json",
        correlationid: parsed.success ? (parsed.data.correlationid ?? originalId) : originalId,
        causationid: originalId,
        data: record,
      });
    },
  };
};

const hashOf = (raw: unknown): string =>
  createHash("sha256")
    .update(JSON.stringify(raw) ?? String(raw))
    .digest("hex")
    .slice(0, 32);
