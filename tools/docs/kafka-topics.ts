import {
  allTopics,
  CONSUMERS,
  DEAD_LETTER_PARTITIONS,
  deadLetterTopicOf,
  PUBSUB,
  Topic,
  TOPIC_PARTITIONS,
} from "../../shared/catalog/names.ts";
import { DEAD_LETTER_TYPE, DeadLetterKind } from "../../shared/catalog/dead-letter.ts";

/** docs/kafka-topics.md, rendered from shared/catalog/names.ts. */
export const renderKafkaTopics = (): string => {
  const lines = [
    "# Kafka topics",
    "",
    "<!-- Generated from shared/catalog/names.ts by `npm run docs`; a test fails when this file drifts. -->",
    "",
    `Every topic is created explicitly (the local broker runs with \`auto.create.topics.enable=false\`), and all`,
    `publishing and subscribing goes through the Dapr pub/sub component \`${PUBSUB}\`.`,
    "Records are keyed by task id (the CloudEvent `subject`), so the events of one task stay in order on one partition.",
    "",
    "| topic | partitions | key |",
    "| --- | --- | --- |",
    ...Object.values(Topic).map((t) => `| \`${t}\` | ${TOPIC_PARTITIONS[t]} | task id |`),
    "",
    "## Dead-letter topics",
    "",
    `One per consumer, named \`<service>.dlq\`, with ${DEAD_LETTER_PARTITIONS} partition${DEAD_LETTER_PARTITIONS === 1 ? "" : "s"}:`,
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
