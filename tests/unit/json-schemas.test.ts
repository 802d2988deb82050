import { describe, expect, it } from "vitest";
import { ALL_EVENTS } from "../../shared/catalog/events.ts";
import { jsonSchemaOf } from "../../tools/docs/json-schemas.ts";

/** Every `additionalProperties: false` in a JSON value, by path. */
const closedObjectsIn = (value: unknown, path = "$"): string[] => {
  if (Array.isArray(value)) return value.flatMap((item, index) => closedObjectsIn(item, `${path}[${index}]`));
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([key, child]) =>
    key === "additionalProperties" && child === false ? [path] : closedObjectsIn(child, `${path}.${key}`),
  );
};

describe("exported JSON Schemas", () => {
  it.each(ALL_EVENTS.map((event) => [event.type, event] as const))("%s never closes an object", (_, event) => {
    expect(closedObjectsIn(jsonSchemaOf(event))).toEqual([]);
  });

  it.each(ALL_EVENTS.map((event) => [event.type, event] as const))("%s requires the envelope producers always set", (_, event) => {
    const schema = jsonSchemaOf(event);
    expect(schema.$id).toBe(`${event.type}.json`);
    expect(schema.title).toBe(event.type);
    expect(schema.required).toEqual(expect.arrayContaining(["specversion", "id", "source", "type", "subject", "time", "correlationid", "data"]));
    expect(schema.properties?.["type"]).toMatchObject({ const: event.type });
  });

  it("finds a closed object when there is one", () => {
    expect(closedObjectsIn({ properties: { a: { additionalProperties: false } } })).toEqual(["$.properties.a"]);
  });
});
