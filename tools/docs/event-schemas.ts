/** docs/event-schemas.md: the envelope, the compatibility rule, and every event with its fields and an example. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { CloudEventEnvelope, type EventDef } from "../../shared/catalog/cloudevent.ts";
import { ALL_EVENTS } from "../../shared/catalog/events.ts";
import { PUBSUB, Topic, TOPIC_CONSUMERS, TOPIC_PRODUCERS, type TopicName } from "../../shared/catalog/names.ts";
import { repoRoot } from "../stack/paths.ts";
import { envelopeFields, jsonSchemaOf, type JsonSchema, schemaIdOf, SCHEMAS_DIR, toOpenJsonSchema } from "./json-schemas.ts";

/** Frozen example events, one per type: later releases must keep accepting them. */
export const EXAMPLES_DIR = "tests/contract/examples";

export const exampleFileOf = (event: EventDef): string => `${EXAMPLES_DIR}/${event.type}.json`;

/** The events on a topic, in catalog order. */
export const eventsOn = (topic: TopicName): EventDef[] => ALL_EVENTS.filter((event) => event.topic === topic);

/** The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces to hyphens. */
export const anchorOf = (heading: string): string =>
  heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, "")
    .replace(/ /g, "-");

const eventHeading = (event: EventDef): string => `\`${event.type}\``;
const topicHeading = (topic: TopicName): string => `Topic \`${topic}\``;

/** A link to an event's section in docs/event-schemas.md, from a page in docs/ (or from that page: `page = ""`). */
export const eventLinkOf = (event: EventDef, page = "event-schemas.md"): string => `[\`${event.type}\`](${page}#${anchorOf(eventHeading(event))})`;

const code = (text: string): string => `\`${text}\``;
const codeList = (items: readonly string[]): string => (items.length === 0 ? "none" : items.map(code).join(", "));
const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

// ------------------------------------------------------------ field tables

const asSchema = (schema: boolean | JsonSchema | undefined): JsonSchema => (typeof schema === "object" ? schema : {});

const between = (min: number | undefined, max: number | undefined, unit: string): string => {
  const hasMax = max !== undefined && max < Number.MAX_SAFE_INTEGER;
  if (min !== undefined && hasMax) return ` (${min}–${max}${unit})`;
  if (min !== undefined && min > 0) return ` (≥ ${min}${unit})`;
  if (hasMax) return ` (≤ ${max}${unit})`;
  return "";
};

const stringLabelOf = (schema: JsonSchema): string =>
  schema.minLength === 1 && schema.maxLength === undefined ? "string (non-empty)" : `string${between(schema.minLength, schema.maxLength, " chars")}`;

const literalOf = (value: unknown): string => code(typeof value === "string" ? value : JSON.stringify(value));

const itemsOf = (schema: JsonSchema): boolean | JsonSchema | undefined => (Array.isArray(schema.items) ? undefined : schema.items);

const mapLabelOf = (schema: JsonSchema): string => `map of string to ${typeLabelOf(asSchema(schema.additionalProperties))}`;

/** A short, readable type, e.g. "string (1–200 chars)", "date-time", "one of `low`, `high`". */
export const typeLabelOf = (schema: JsonSchema): string => {
  if (schema.const !== undefined) return literalOf(schema.const);
  if (schema.enum !== undefined) return `one of ${schema.enum.map(literalOf).join(", ")}`;
  if (schema.anyOf !== undefined) return schema.anyOf.map(typeLabelOf).join(" or ");
  if (schema.format === "date-time") return "date-time";
  switch (schema.type) {
    case "string":
      return stringLabelOf(schema);
    case "integer":
    case "number":
      return `${schema.type}${between(schema.minimum, schema.maximum, "")}`;
    case "array":
      return `array${between(schema.minItems, schema.maxItems, " items")} of ${typeLabelOf(asSchema(itemsOf(schema)))}`;
    case "object":
      return schema.properties === undefined ? mapLabelOf(schema) : "object";
    default:
      return "any JSON value";
  }
};

interface FieldRow {
  path: string;
  schema: JsonSchema;
  required: boolean;
}

/** The fields of an object schema, nested objects flattened into dotted paths. */
export const fieldRowsOf = (schema: JsonSchema, prefix = ""): FieldRow[] =>
  Object.entries(schema.properties ?? {}).flatMap(([name, child]) => {
    const field = asSchema(child);
    const path = `${prefix}${name}`;
    const row = { path, schema: field, required: schema.required?.includes(name) ?? false };
    return [row, ...nestedRowsOf(field, path)];
  });

const nestedRowsOf = (field: JsonSchema, path: string): FieldRow[] => {
  if (field.properties !== undefined) return fieldRowsOf(field, `${path}.`);
  const values = asSchema(field.additionalProperties);
  if (field.type === "object" && values.properties !== undefined) return fieldRowsOf(values, `${path}.<field>.`);
  return [];
};

const requiredLabelOf = (row: FieldRow): string => {
  if (row.required) return "yes";
  return row.schema.default === undefined ? "no" : `no (default ${literalOf(row.schema.default)})`;
};

/** Table lines for the fields of an object schema: name, type, required, description. */
const fieldLines = (schema: JsonSchema): string[] =>
  fieldRowsOf(schema).map((row) => {
    const cells = [code(row.path), cell(typeLabelOf(row.schema)), requiredLabelOf(row), cell(row.schema.description ?? "")];
    return `| ${cells.join(" | ")} |`;
  });

// ------------------------------------------------------------ sections

const readExample = (event: EventDef): string => {
  const text = readFileSync(join(repoRoot, exampleFileOf(event)), "utf8");
  return JSON.stringify(JSON.parse(text), null, 2);
};

const envelopeSection = (): string[] => {
  const schema = toOpenJsonSchema(z.looseObject(envelopeFields(CloudEventEnvelope.shape.type)));
  return [
    "## Envelope",
    "",
    "| attribute | type | required | meaning |",
    "| --- | --- | --- | --- |",
    ...fieldLines(schema),
    `| \`data\` | object | yes | The event's payload; its fields are listed per event below. |`,
    "",
    "Dapr adds its own attributes on delivery (`topic`, `pubsubname`, …); they pass through and",
    "consumers ignore them. Every event also carries the W3C trace it was published in (`traceparent`,",
    "`traceid` with the same value, `tracestate`), set by the publisher and continued by the host on delivery;",
    "handlers do not read them.",
    "",
  ];
};

const compatibilitySection = (): string[] => [
  "## Compatibility",
  "",
  "- Within a version, fields are only added, and only as optional.",
  "- Consumers ignore fields they do not know: the zod objects are not strict, and the JSON Schemas never set",
  "  `additionalProperties: false`.",
  "- Anything else (removing or renaming a field, changing its type, making it required, narrowing its values) is",
  "  a new version (`.v2`) published alongside the old one.",
  `- The examples in \`${EXAMPLES_DIR}/\` are frozen: every later release must still accept them.`,
  "- Rules that span fields (a recurrence gives `until` or `count`, not both) are checked by the zod schemas only;",
  "  the field descriptions state them.",
  "",
];

const eventSection = (event: EventDef, topic: TopicName): string[] => {
  const data = asSchema(jsonSchemaOf(event).properties?.["data"]);
  return [
    `### ${eventHeading(event)}`,
    "",
    data.description ?? "",
    "",
    `- type: ${code(event.type)}`,
    `- topic: ${code(topic)}`,
    `- producers: ${codeList(TOPIC_PRODUCERS[topic])}`,
    `- consumers: ${codeList(TOPIC_CONSUMERS[topic])}`,
    `- JSON Schema: [${SCHEMAS_DIR}/${schemaIdOf(event)}](schemas/${schemaIdOf(event)})`,
    "",
    "Data fields (required is relative to the enclosing object):",
    "",
    "| field | type | required | description |",
    "| --- | --- | --- | --- |",
    ...fieldLines(data),
    "",
    "Example:",
    "",
    "```json",
    readExample(event),
    "```",
    "",
  ];
};

const topicSection = (topic: TopicName): string[] => [
  `## ${topicHeading(topic)}`,
  "",
  `Produced by ${codeList(TOPIC_PRODUCERS[topic])}; consumed by ${codeList(TOPIC_CONSUMERS[topic])}, each in its own`,
  "consumer group.",
  "",
  ...eventsOn(topic).flatMap((event) => eventSection(event, topic)),
];

const indexRow = (topic: TopicName): string => {
  const events = eventsOn(topic).map((event) => eventLinkOf(event, ""));
  return `| [${code(topic)}](#${anchorOf(topicHeading(topic))}) | ${events.join(", ")} |`;
};

const indexSection = (): string[] => ["## Events", "", "| topic | event types |", "| --- | --- |", ...Object.values(Topic).map(indexRow), ""];

/** docs/event-schemas.md, rendered from shared/catalog/events.ts and the frozen examples. */
export const renderEventSchemas = (): string =>
  [
    "# Event schemas",
    "",
    "<!-- Generated from shared/catalog/ and tests/contract/examples/ by `npm run docs`; a test fails when this file drifts. -->",
    "",
    `Every event travels on Kafka as a CloudEvents 1.0 JSON object, published and delivered through the Dapr pub/sub`,
    `component ${code(PUBSUB)}. The zod schemas in \`shared/catalog/events.ts\` are the contract; the JSON Schemas`,
    `(draft 2020-12) of whole events in [${SCHEMAS_DIR}/](schemas/) are generated from them for consumers in other`,
    "languages.",
    "",
    ...envelopeSection(),
    ...compatibilitySection(),
    ...indexSection(),
    ...Object.values(Topic).flatMap(topicSection),
  ].join("\n");
