import {
  allTopics,
  CONSUMERS,
  DEAD_LETTER_PARTITIONS,
  DEAD_LETTER_RETENTION_MS,
  deadLetterTopicOf,
  PUBSUB,
  Topic,
  TOPIC_CONSUMERS,
  TOPIC_PARTITIONS,
  TOPIC_PRODUCERS,
  TOPIC_RETENTION_MS,
  type TopicName,
} from "../../shared/catalog/names.ts";
import { DEAD_LETTER_TYPE, DeadLetterKind } from "../../shared/catalog/dead-letter.ts";
import { eventLinkOf, eventsOn } from "./event-schemas.ts";

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;

/** A retention as people say it: `14 days`, `1 day`, `36 hours`. */
export const formatRetention = (ms: number): string => {
  const [count, unit] = ms % DAY_MS === 0 ? [ms / DAY_MS, "day"] : [ms / HOUR_MS, "hour"];
  return `${count} ${unit}${count === 1 ? "" : "s"}`;
};

const services = (names: readonly string[]): string => names.map((name) => `\`${name}\``).join(", ");

const topicRow = (topic: TopicName): string => {
  const cells = [
    `\`${topic}\``,
    String(TOPIC_PARTITIONS[topic]),
    "task id",
    formatRetention(TOPIC_RETENTION_MS[topic]),
    services(TOPIC_PRODUCERS[topic]),
    services(TOPIC_CONSUMERS[topic]),
    eventsOn(topic)
      .map((event) => eventLinkOf(event))
      .join(", "),
  ];
  return `| ${cells.join(" | ")} |`;
};

/** docs/kafka-topics.md, rendered from shared/catalog/names.ts. */
export const renderKafkaTopics = (): string => {
  const lines = [
    "# Kafka topics",
    "",
    "<!-- Generated from shared/catalog/names.ts and events.ts by `npm run docs`; a test fails when this file drifts. -->",
    "",
    `Every topic is created explicitly (the local broker runs with \`auto.create.topics.enable=false\`), and all`,
    `publishing and subscribing goes through the Dapr pub/sub component \`${PUBSUB}\`.`,
    "Records are keyed by task id (the CloudEvent `subject`), so the events of one task stay in order on one partition.",
    "",
    "Each consumer reads with its own consumer group, named like the service. The event types link to their",
    "schemas in [event-schemas.md](event-schemas.md).",
    "",
    "| topic | partitions | key | retention | producers | consumers (= consumer groups) | event types |",
    "| --- | --- | --- | --- | --- | --- | --- |",
    ...Object.values(Topic).map(topicRow),
    "",
    "## Dead-letter topics",
    "",
    `One per consumer, named \`<service>.dlq\`, with ${DEAD_LETTER_PARTITIONS} partition${DEAD_LETTER_PARTITIONS === 1 ? "" : "s"}`,
    `and a retention of ${formatRetention(DEAD_LETTER_RETENTION_MS)} (time for an operator to inspect and replay):`,
    "what that consumer gave up on, from any of the topics it reads. Each record is a CloudEvent of type",
    `\`${DEAD_LETTER_TYPE}\` whose data holds the original event, the reason, the kind`,
    `(${DeadLetterKind.options.map((k) => `\`${k}\``).join(", ")}) and the number of attempts.`,
    "If Dapr's own retry bound runs out first (for example after a restart mid-retry), Dapr forwards the original",
    "event to the same topic unwrapped.",
    "",
    "| consumer (= consumer group) | dead-letter topic |",
    "| --- | --- |",
    ...CONSUMERS.map((c) => `| \`${c}\` | \`${deadLetterTopicOf(c)}\` |`),
    "",
    "## All topics to create",
    "",
    "```",
    ...allTopics().map((t) => `${t.name} partitions=${t.partitions}`),
    "```",
    "",
  ];
  return lines.join("\n");
};
