import { setTimeout as sleep } from "node:timers/promises";
import { CommunicationProtocolEnum, DaprClient, LogLevel } from "@dapr/dapr";
import type { CloudEventEnvelope } from "../catalog/cloudevent.ts";
import { PUBSUB } from "../catalog/names.ts";
import { Coalescer, type Outcome } from "../coalesce.ts";
import { describeError, PublishError } from "./errors.ts";
import { callSidecar, type SidecarAddress } from "./sidecar.ts";
import { currentTrace, newTrace, parseTraceparent, startSpan, traceAttributes, tracingOn } from "../trace.ts";

/** Publishes a finished CloudEvent; the partition key is the event's subject. */
export interface Publisher {
  publish(topic: string, event: CloudEventEnvelope): Promise<void>;
}

export interface RetryPolicy {
  /** Total tries, the first included. */
  attempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_PUBLISH_RETRY: RetryPolicy = { attempts: 5, initialDelayMs: 100, maxDelayMs: 2_000 };

/** One attempt to hand an event to the sidecar; resolves or throws. */
export type PublishAttempt = (topic: string, event: CloudEventEnvelope) => Promise<void>;

/**
 * Bounded retry with exponential backoff and jitter around a single attempt.
 * The last error is surfaced as a PublishError: a publish never fails silently.
 */
export const withRetry = (attempt: PublishAttempt, policy: RetryPolicy = DEFAULT_PUBLISH_RETRY): Publisher => ({
  async publish(topic, event) {
    let delay = policy.initialDelayMs;
    for (let tries = 1; ; tries++) {
      try {
        return await attempt(topic, event);
      } catch (err) {
        if (tries >= policy.attempts) {
          throw new PublishError(`publish of ${event.type} ${event.id} to ${topic} failed after ${tries} attempts: ${describeError(err)}`, topic, event.id, {
            cause: err,
          });
        }
        await sleep(Math.round(delay * (0.5 + Math.random() / 2)));
        delay = Math.min(delay * 2, policy.maxDelayMs);
      }
    }
  },
});

/**
 * The publish attempt over the sidecar's publish API, through the Dapr SDK.
 * The envelope goes as `application/cloudevents+json`, so Dapr keeps our id,
 * type, source and subject; `partitionKey` keys the Kafka record by subject.
 * The SDK reports failures as `{ error }` rather than throwing: turned into a throw here.
 */
export const daprPublishAttempt =
  (client: DaprClient, pubsub: string = PUBSUB): PublishAttempt =>
  async (topic, event) => {
    const metadata: Record<string, string> = {};
    if (event.subject) metadata["partitionKey"] = event.subject;
    const { error } = await client.pubsub.publish(pubsub, topic, event, {
      contentType: "application/cloudevents+json",
      metadata,
    });
    if (error) throw error instanceof Error ? error : new Error(String(error));
  };

/** One attempt to hand a topic's events to the sidecar at once: one outcome per event, in order. */
export type BulkPublishAttempt = (topic: string, events: CloudEventEnvelope[]) => Promise<Outcome<void>[]>;

/**
 * The bulk attempt over the sidecar's bulk publish API (`/v1.0-alpha1/publish/bulk`): each entry
 * keeps its envelope (`application/cloudevents+json`) and its own partition key.
 *
 * A plain HTTP call, not the SDK's `publishBulk`: when daprd fails a bulk publish as a whole (the
 * broker is down, the circuit breaker is open) it answers 500 with an empty `failedEntries`, and
 * the SDK reads that as "nothing failed". Here anything but a 2xx fails every entry, unless daprd
 * names the entries that failed (then only those). A request that hangs fails after `timeoutMs`.
 */
export const daprBulkPublishAttempt =
  (opts: SidecarAddress & { pubsub?: string; timeoutMs?: number }): BulkPublishAttempt =>
  async (topic, events) => {
    const path = `/v1.0-alpha1/publish/bulk/${opts.pubsub ?? PUBSUB}/${encodeURIComponent(topic)}`;
    const body = events.map((event, i) => ({
      entryId: String(i),
      event,
      contentType: "application/cloudevents+json",
      metadata: event.subject ? { partitionKey: event.subject } : {},
    }));
    const res = await callSidecar(opts, "POST", path, {
      trace: sharedTrace(events),
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    });
    const text = res.body;
    if (res.status >= 200 && res.status < 300) return events.map((): Outcome<void> => ({ ok: true, value: undefined }));
    const named = failedEntriesOf(text);
    const error = new Error(`bulk publish to ${topic}: HTTP ${res.status} ${text.slice(0, 500)}`);
    return events.map(
      (_, i): Outcome<void> => (named.size > 0 && !named.has(String(i)) ? { ok: true, value: undefined } : { ok: false, error: named.get(String(i)) ?? error }),
    );
  };

/** The trace every event belongs to, if they all belong to one. */
const sharedTrace = (events: CloudEventEnvelope[]) => {
  const first = parseTraceparent(events[0]?.["traceparent"], events[0]?.["tracestate"]);
  return first && events.every((e) => parseTraceparent(e["traceparent"])?.traceId === first.traceId) ? first : null;
};

/**
 * Stamps each event with the trace it is published in (W3C `traceparent`, and `traceid`, which
 * daprd reads to keep them; `tracestate`): a span of ours for the publish when spans are recorded,
 * otherwise the current trace as it is (a new one outside any). Any trace the envelope carried
 * (a delivered event published again) is replaced: the publish is part of the work doing it.
 */
export const tracedPublisher = (publisher: Publisher): Publisher => ({
  publish(topic, event) {
    // Object.assign, not a spread: a spread of the envelope plus new keys costs microseconds here.
    if (!tracingOn()) return publisher.publish(topic, Object.assign({}, event, traceAttributes(currentTrace() ?? newTrace())));
    const span = startSpan(`publish ${event.type}`, "PRODUCER", currentTrace(), { "messaging.destination": topic, "cloudevent.id": event.id }, "kafka");
    return publisher.publish(topic, Object.assign({}, event, traceAttributes(span.trace))).then(
      () => span.end(),
      (err: unknown) => {
        span.end({ error: err instanceof Error ? err.message.slice(0, 200) : String(err) });
        throw err;
      },
    );
  },
});

/** The entries daprd says failed, by entry id, from a bulk publish error body. */
const failedEntriesOf = (body: string): Map<string, Error> => {
  try {
    const parsed = JSON.parse(body) as { failedEntries?: { entryId?: string; error?: string }[] };
    return new Map((parsed.failedEntries ?? []).flatMap((e) => (e.entryId ? [[e.entryId, new Error(`daprd: ${e.error ?? "failed"}`)] as const] : [])));
  } catch {
    return new Map();
  }
};

export interface BatchingOptions {
  /** Events per bulk request at most. */
  maxBatch: number;
  /** Bulk requests in flight at once, per topic. */
  maxInFlight: number;
}

export const DEFAULT_BATCHING: BatchingOptions = { maxBatch: 100, maxInFlight: 4 };

/**
 * A publish attempt that travels in bulk: events handed over while a bulk
 * request to their topic is in flight go together in the next one. Events
 * with the same subject (task) never share a request nor travel in two at
 * once, so per-task order holds whatever the broker does within a batch.
 */
export const batchedPublishAttempt = (send: BulkPublishAttempt, options: BatchingOptions = DEFAULT_BATCHING): PublishAttempt => {
  const byTopic = new Map<string, Coalescer<CloudEventEnvelope, void>>();
  return (topic, event) => {
    let coalescer = byTopic.get(topic);
    if (!coalescer) {
      coalescer = new Coalescer((events) => send(topic, events), { ...options, keyOf: (e) => e.subject ?? e.id });
      byTopic.set(topic, coalescer);
    }
    return coalescer.submit(event);
  };
};

export const createDaprClient = (sidecar: SidecarAddress): DaprClient =>
  new DaprClient({
    daprHost: sidecar.daprHost,
    daprPort: String(sidecar.daprPort),
    ...(sidecar.apiToken ? { daprApiToken: sidecar.apiToken } : {}),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    // Failures reach the caller as thrown errors; the SDK's own log lines would only repeat them.
    logger: { level: LogLevel.Error, service: silentSdkLogger },
  });

const silentSdkLogger = { error() {}, warn() {}, info() {}, verbose() {}, debug() {} };

/**
 * The publisher every function uses: events go to the sidecar in bulk when
 * several are ready at once (a single event leaves at once, alone), each with
 * bounded retries, each carrying the trace it was published in.
 */
export const createDaprPublisher = (opts: SidecarAddress & { retry?: RetryPolicy; batching?: BatchingOptions }): Publisher =>
  tracedPublisher(withRetry(batchedPublishAttempt(daprBulkPublishAttempt(opts), opts.batching), opts.retry));
