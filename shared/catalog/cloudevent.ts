import { createHash, randomUUID } from "node:crypto";
import { z } from "zod";

/**
 * An event definition: where it travels, what it is called, what it carries.
 * One value is used to publish and to consume, so handler types come from the schema.
 */
export interface EventDef<TType extends string = string, TSchema extends z.ZodType = z.ZodType> {
  readonly topic: string;
  readonly type: TType;
  readonly schema: TSchema;
}

export const defineEvent = <const TType extends string, TSchema extends z.ZodType>(def: {
  topic: string;
  type: TType;
  schema: TSchema;
}): EventDef<TType, TSchema> => Object.freeze({ ...def });

export type EventData<E extends EventDef> = z.output<E["schema"]>;

/**
 * The CloudEvents 1.0 envelope as it travels on Kafka. `subject` is the
 * partition key (the task id); `correlationid`, `causationid` and `writeseq`
 * are extension attributes (CloudEvents allows only lowercase alphanumerics in
 * their names).
 * Dapr adds its own attributes on delivery (topic, pubsubname, traceparent…),
 * which pass through untouched.
 */
export const CloudEventEnvelope = z.looseObject({
  specversion: z.literal("1.0"),
  id: z.string().min(1),
  source: z.string().min(1),
  type: z.string().min(1),
  subject: z.string().min(1).optional(),
  time: z.string().optional(),
  datacontenttype: z.string().optional(),
  correlationid: z.string().min(1).optional(),
  causationid: z.string().min(1).optional(),
  /**
   * The event's place among the events of the write that produced it: 0, 1, 2… in the order the
   * producer emits them, all with the write's `time`. Readers order a task's events by `time`, then
   * `writeseq`. Absent (an event published on its own, or by an older producer) means 0.
   */
  writeseq: z.number().int().min(0).optional(),
  data: z.unknown(),
});
export type CloudEventEnvelope = z.infer<typeof CloudEventEnvelope>;

/** A delivered event after its data passed the definition's schema. */
export interface CloudEvent<TData> {
  id: string;
  source: string;
  type: string;
  subject: string | undefined;
  time: string | undefined;
  correlationId: string;
  causationId: string | undefined;
  /** Its place among the events of its write (the envelope's `writeseq`, 0 when absent). */
  writeSeq: number;
  data: TData;
}

/** The delivered event an envelope carries, with its data as the definition's schema read it. */
export const cloudEventOf = <TData>(ce: CloudEventEnvelope, data: TData): CloudEvent<TData> => ({
  id: ce.id,
  source: ce.source,
  type: ce.type,
  subject: ce.subject,
  time: ce.time,
  correlationId: ce.correlationid ?? ce.id,
  causationId: ce.causationid,
  writeSeq: ce.writeseq ?? 0,
  data,
});

export interface EnvelopeInput<E extends EventDef> {
  event: E;
  data: EventData<E>;
  /** The partition key: the task id for every task event. */
  subject: string;
  source: string;
  id?: string;
  time?: string;
  correlationId?: string;
  causationId?: string;
  /** Its place among the events of one write (see `writeseq`); omitted: an event published on its own. */
  writeSeq?: number;
}

/** Builds the envelope for publishing; validates data so nothing malformed leaves the producer. */
export const envelope = <E extends EventDef>(input: EnvelopeInput<E>): CloudEventEnvelope => {
  const data = input.event.schema.parse(input.data);
  const id = input.id ?? randomUUID();
  return {
    specversion: "1.0",
    id,
    source: input.source,
    type: input.event.type,
    subject: input.subject,
    time: input.time ?? new Date().toISOString(),
    datacontenttype: "application/json",
    correlationid: input.correlationId ?? id,
    ...(input.causationId ? { causationid: input.causationId } : {}),
    writeseq: input.writeSeq ?? 0,
    data,
  };
};

/**
 * A UUID-shaped id that is the same for the same parts (a SHA-256 of the parts, one per line,
 * shaped as a version-5-style UUID): the id of an event derived from another, of a task created
 * with an idempotency key, of a reminder's due event.
 */
export const stableUuid = (...parts: string[]): string => {
  const h = createHash("sha256").update(parts.join("\n")).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
};
