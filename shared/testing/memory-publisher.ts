/** An in-process Publisher for unit tests of pure host logic; integration tests use the real sidecar. */
import type { CloudEventEnvelope } from "../catalog/cloudevent.ts";
import type { Publisher } from "../host/publisher.ts";

export class MemoryPublisher implements Publisher {
  readonly published: { topic: string; event: CloudEventEnvelope }[] = [];
  /** While set, every publish rejects with it. */
  failWith: Error | undefined;

  async publish(topic: string, event: CloudEventEnvelope): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.published.push({ topic, event });
  }

  on(topic: string): CloudEventEnvelope[] {
    return this.published.filter((p) => p.topic === topic).map((p) => p.event);
  }
}
