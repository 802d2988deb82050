/**
 * JSON Schemas (draft 2020-12) of every event as it travels on Kafka: the whole
 * CloudEvent, envelope and data, for consumers that do not use the zod catalog.
 *
 * Objects are never closed (`additionalProperties: false`): a field added in a
 * later release must not make an older consumer reject the event.
 */
import { z } from "zod";
import { CloudEventEnvelope, type EventDef } from "../../shared/catalog/cloudevent.ts";
import { ALL_EVENTS } from "../../shared/catalog/events.ts";
import { Instant } from "../../shared/catalog/task.ts";

export type JsonSchema = z.core.JSONSchema.JSONSchema;

/** Folder of the exported schemas; every file in it is generated. */
export const SCHEMAS_DIR = "docs/schemas";

/** Repo-relative path of an event's JSON Schema. */
export const schemaFileOf = (event: EventDef): string => `${SCHEMAS_DIR}/${schemaIdOf(event)}`;

/** The schema's `$id`, relative so the files can be served from anywhere. */
export const schemaIdOf = (event: EventDef): string => `${event.type}.json`;

const envelope = CloudEventEnvelope.shape;

/**
 * The envelope attributes as every producer sets them (shared/catalog/cloudevent.ts
 * `envelope()`): subject, time and correlationid are always present.
 */
export const envelopeFields = (type: z.ZodType) => ({
  specversion: envelope.specversion.describe("CloudEvents version: always `1.0`."),
  id: envelope.id.describe("Unique per event; consumers use it to drop redelivered duplicates."),
  source: envelope.source.describe("The service that produced the event (e.g. `task-api`)."),
  type: type.describe("The versioned event type; selects the schema of `data`."),
  subject: envelope.subject.unwrap().describe("The task id; also the Kafka record key, so one task's events stay in order."),
  time: Instant.describe("When the producer published the event (RFC 3339; producers write UTC)."),
  datacontenttype: envelope.datacontenttype.describe("Always `application/json`."),
  correlationid: envelope.correlationid.unwrap().describe("Shared by every event that follows from one request; the first event's id when it starts a chain."),
  causationid: envelope.causationid.describe("The id of the event this one was derived from; absent when it came from a request."),
  writeseq: envelope.writeseq.describe(
    "The event's place among the events of the write that produced it (0, 1, 2… in emit order; they share `time`): a task's events are in order by `time`, then `writeseq`. Absent means 0.",
  ),
});

/** The whole CloudEvent of one event type, composed in zod. */
export const cloudEventSchemaOf = (event: EventDef) => z.looseObject({ ...envelopeFields(z.literal(event.type)), data: event.schema });

/** zod closes output objects; an open schema keeps older consumers working when fields are added. */
const keepObjectsOpen = (ctx: { jsonSchema: JsonSchema }): void => {
  if (ctx.jsonSchema.additionalProperties === false) delete ctx.jsonSchema.additionalProperties;
};

/** Converts a zod schema to an open draft 2020-12 JSON Schema. */
export const toOpenJsonSchema = (schema: z.ZodType): JsonSchema => z.toJSONSchema(schema, { target: "draft-2020-12", io: "input", override: keepObjectsOpen });

/** The JSON Schema of an event's CloudEvent, with `$id` and `title` first. */
export const jsonSchemaOf = (event: EventDef): JsonSchema => {
  const { $schema, ...rest } = toOpenJsonSchema(cloudEventSchemaOf(event));
  return {
    $schema,
    $id: schemaIdOf(event),
    title: event.type,
    description: `${event.schema.description ?? event.type} A CloudEvents 1.0 event on Kafka topic \`${event.topic}\`.`,
    ...rest,
  };
};

/** The file text: 2-space JSON with a trailing newline. */
export const renderJsonSchema = (event: EventDef): string => `${JSON.stringify(jsonSchemaOf(event), null, 2)}\n`;

/** Every exported schema file, by repo-relative path. */
export const jsonSchemaDocs = (): Record<string, () => string> =>
  Object.fromEntries(ALL_EVENTS.map((event) => [schemaFileOf(event), () => renderJsonSchema(event)]));
