/**
 * Event contracts: the frozen examples keep parsing with the zod catalog and
 * validating against the exported JSON Schemas, and both tolerate added fields.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import ajvFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import { CloudEventEnvelope, type EventDef } from "../../shared/catalog/cloudevent.ts";
import { ALL_EVENTS } from "../../shared/catalog/events.ts";
import { Topic } from "../../shared/catalog/names.ts";
import { EXAMPLES_DIR, exampleFileOf } from "../../tools/docs/event-schemas.ts";
import { type JsonSchema, schemaFileOf } from "../../tools/docs/json-schemas.ts";
import { repoRoot } from "../../tools/stack/paths.ts";

type Json = Record<string, unknown>;

const readJson = (file: string): Json => JSON.parse(readFileSync(join(repoRoot, file), "utf8")) as Json;

const exampleOf = (event: EventDef): Json => readJson(exampleFileOf(event));

const dataOf = (example: Json): Json => example["data"] as Json;

/** JSON Schemas as exported to docs/schemas, validated with ajv: independent of zod. */
const ajv = new Ajv2020({ strict: true, allErrors: true });
ajvFormats.default(ajv);
const validators = new Map<string, ValidateFunction>(ALL_EVENTS.map((event) => [event.type, ajv.compile(readJson(schemaFileOf(event)))]));

const validatorOf = (event: EventDef): ValidateFunction => {
  const validate = validators.get(event.type);
  if (validate === undefined) throw new Error(`no JSON Schema for ${event.type}`);
  return validate;
};

const zodAccepts = (event: EventDef, example: Json): boolean =>
  CloudEventEnvelope.safeParse(example).success && event.schema.safeParse(dataOf(example)).success;

const ajvAccepts = (event: EventDef, example: Json): boolean => validatorOf(event)(example);

const requiredDataFields = (event: EventDef): string[] => {
  const schema = readJson(schemaFileOf(event)) as JsonSchema;
  const data = schema.properties?.["data"];
  return typeof data === "object" ? (data.required ?? []) : [];
};

const without = (record: Json, field: string): Json => Object.fromEntries(Object.entries(record).filter(([key]) => key !== field));

describe("event catalog", () => {
  it("has unique types", () => {
    const types = ALL_EVENTS.map((event) => event.type);
    expect(new Set(types).size).toBe(types.length);
  });

  it.each(ALL_EVENTS.map((event) => [event.type, event] as const))("%s is versioned and on a known topic", (_, event) => {
    expect(event.type).toMatch(/^[a-z]+(\.[a-z-]+)+\.v\d+$/);
    expect(Object.values(Topic)).toContain(event.topic);
  });
});

describe("frozen examples", () => {
  it("exist for every event type, and only for known types", () => {
    const files = readdirSync(join(repoRoot, EXAMPLES_DIR)).map((name) => `${EXAMPLES_DIR}/${name}`);
    expect(files.sort()).toEqual(ALL_EVENTS.map(exampleFileOf).sort());
  });

  for (const event of ALL_EVENTS) {
    describe(event.type, () => {
      const example = exampleOf(event);

      it("is a full CloudEvent of its own type, keyed by its task", () => {
        const envelope = CloudEventEnvelope.parse(example);
        expect(envelope.type).toBe(event.type);
        expect(envelope.subject).toBe(dataOf(example)["taskId"]);
      });

      it("parses with the current zod schema", () => {
        expect(event.schema.safeParse(dataOf(example)).error).toBeUndefined();
      });

      it("validates against the exported JSON Schema", () => {
        const validate = validatorOf(event);
        expect(validate(example), ajv.errorsText(validate.errors)).toBe(true);
      });

      it("still passes both with an unknown field added to data", () => {
        const extended = { ...example, data: { ...dataOf(example), addedLater: { nested: true } } };
        expect(zodAccepts(event, extended)).toBe(true);
        expect(ajvAccepts(event, extended)).toBe(true);
      });

      it("still passes both without writeseq, as producers sent it before the attribute existed (absent = 0)", () => {
        expect(example["writeseq"]).toEqual(expect.any(Number));
        const older = without(example, "writeseq");
        expect(zodAccepts(event, older)).toBe(true);
        expect(ajvAccepts(event, older)).toBe(true);
      });

      it("still passes both with an unknown field added to the envelope", () => {
        const extended = { ...example, addedlater: "x" };
        expect(zodAccepts(event, extended)).toBe(true);
        expect(ajvAccepts(event, extended)).toBe(true);
      });

      if (dataOf(example)["task"] !== undefined) {
        it("still passes both with an unknown field added to data.task", () => {
          const data = dataOf(example);
          const extended = { ...example, data: { ...data, task: { ...(data["task"] as Json), addedLater: 1 } } };
          expect(zodAccepts(event, extended)).toBe(true);
          expect(ajvAccepts(event, extended)).toBe(true);
        });
      }

      it.each(requiredDataFields(event))("fails both without its required data field %s", (field) => {
        const reduced = { ...example, data: without(dataOf(example), field) };
        expect(zodAccepts(event, reduced)).toBe(false);
        expect(ajvAccepts(event, reduced)).toBe(false);
      });
    });
  }
});
