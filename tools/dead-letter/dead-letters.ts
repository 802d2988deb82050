/**
 * The dead-letter tool: lists what each consumer dead-lettered, with the
 * reasons, and replays chosen events to their original topics. Both read the
 * dead-letter topics through Dapr (session.ts), against the target the
 * environment names (target.ts); a replay publishes through that sidecar with
 * the project's publisher, and never writes to the dead-letter topic: it stays
 * the log of what happened.
 */
import { DEAD_LETTERS_ACKNOWLEDGED, deadLetterTopicOf } from "../../shared/catalog/names.ts";
import { KafkaReader } from "../../shared/kafka.ts";
import { selectForReplay, type ConsumerDeadLetters, type ReplayResult } from "./records.ts";
import { withDeadLetters, type SessionOptions } from "./session.ts";
import type { Target } from "./target.ts";

export interface ListOptions extends SessionOptions {
  /** Consumers (service names) whose dead-letter topics to read. */
  consumers: readonly string[];
}

export const listDeadLetters = async (target: Target, opts: ListOptions): Promise<ConsumerDeadLetters[]> => {
  const topics = opts.consumers.map(deadLetterTopicOf);
  return withDeadLetters(target, topics, opts, async ({ entries }) =>
    opts.consumers.map((consumer) => {
      const deadLetterTopic = deadLetterTopicOf(consumer);
      return { consumer, deadLetterTopic, entries: entries.get(deadLetterTopic) ?? [] };
    }),
  );
};

export interface ReplayOptions extends SessionOptions {
  consumer: string;
  /** The original events' ids, or every replayable event on the consumer's dead-letter topic. */
  ids: string[] | "all";
}

/**
 * Publishes the original events, unchanged (same id: consumers de-duplicate),
 * to the topics they were delivered from. Every consumer of such a topic sees
 * the event again, not only the one that dead-lettered it. An id that is not on
 * the dead-letter topic, or cannot be replayed, fails before anything is published.
 */
export const replay = async (target: Target, opts: ReplayOptions): Promise<ReplayResult> => {
  const deadLetterTopic = deadLetterTopicOf(opts.consumer);
  return withDeadLetters(target, [deadLetterTopic], opts, async ({ entries, publisher, acknowledge }) => {
    const selection = selectForReplay(entries.get(deadLetterTopic) ?? [], opts.ids);
    const replayed: ReplayResult["replayed"] = [];
    for (const item of selection.replay) {
      try {
        await publisher.publish(item.topic, item.event);
      } catch (err) {
        const done = replayed.length === 0 ? "nothing replayed" : `replayed before it: ${replayed.map((r) => r.eventId).join(", ")}`;
        throw new Error(`replay of ${item.eventId} failed (${done}): ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      }
      replayed.push({ eventId: item.eventId, type: item.type, subject: item.subject, topic: item.topic });
    }
    // Everything read was replayed or reported as skipped: the operator has seen it all.
    if (opts.ids === "all") await acknowledge(deadLetterTopic);
    return { consumer: opts.consumer, deadLetterTopic, replayed, skipped: selection.skipped, acknowledged: opts.ids === "all" };
  });
};

export interface AckResult {
  consumer: string;
  deadLetterTopic: string;
  /** Records that were not acknowledged before, and now are. */
  acknowledged: number;
}

/**
 * Marks every record now on the consumers' dead-letter topics as dealt with: the bookmark group
 * DEAD_LETTERS_ACKNOWLEDGED moves to the topics' end offsets, so dead-letter depth (and its
 * alert) counts only records that come after. Nothing is read through Dapr, nothing is removed:
 * `list` still shows every record.
 */
export const acknowledge = async (target: Target, opts: { consumers: readonly string[] }): Promise<AckResult[]> => {
  const reader = new KafkaReader(target.kafka, DEAD_LETTERS_ACKNOWLEDGED);
  try {
    const results: AckResult[] = [];
    for (const consumer of opts.consumers) {
      const deadLetterTopic = deadLetterTopicOf(consumer);
      const before = await reader.pending(DEAD_LETTERS_ACKNOWLEDGED, deadLetterTopic);
      await reader.commitOffsets(DEAD_LETTERS_ACKNOWLEDGED, deadLetterTopic, (await reader.logEnds([deadLetterTopic])).get(deadLetterTopic) ?? new Map());
      results.push({ consumer, deadLetterTopic, acknowledged: before });
    }
    return results;
  } finally {
    await reader.close();
  }
};
