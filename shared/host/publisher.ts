import { setTimeout as sleep } from "node:timers/promises";
import { CommunicationProtocolEnum, DaprClient, LogLevel } from "@dapr/dapr";
import type { CloudEventEnvelope } from "../catalog/cloudevent.ts";
import { PUBSUB } from "../catalog/names.ts";
import { describeError, PublishError } from "./errors.ts";

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
          throw new PublishError(
            `publish of ${event.type} ${event.id} to ${topic} failed after ${tries} attempts: ${describeError(err)}`,
            topic,
            event.id,
            { cause: err },
          );
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
export const daprPublishAttempt = (client: DaprClient, pubsub: string = PUBSUB): PublishAttempt =>
  async (topic, event) => {
    const metadata: Record<string, string> = {};
    if (event.subject) metadata["partitionKey"] = event.subject;
    const { error } = await client.pubsub.publish(pubsub, topic, event, {
      contentType: "application/cloudevents+json",
      metadata,
    });
    if (error) throw error instanceof Error ? error : new Error(String(error));
  };

export const createDaprClient = (daprHost: string, daprPort: number): DaprClient =>
  new DaprClient({
    daprHost,
    daprPort: String(daprPort),
    communicationProtocol: CommunicationProtocolEnum.HTTP,
    // Failures reach the caller as thrown errors; the SDK's own log lines would only repeat them.
    logger: { level: LogLevel.Error, service: silentSdkLogger },
  });

const silentSdkLogger = { error() {}, warn() {}, info() {}, verbose() {}, debug() {} };

export const createDaprPublisher = (
  opts: { daprHost: string; daprPort: number; retry?: RetryPolicy },
): Publisher => withRetry(daprPublishAttempt(createDaprClient(opts.daprHost, opts.daprPort)), opts.retry);
