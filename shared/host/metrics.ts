/**
 * Prometheus metrics of a function, served on GET /metrics. Every series
 * carries `service`; event series carry the topic and CloudEvent type.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Publisher } from "./publisher.ts";

export type EventOutcome = "handled" | "failed" | "busy" | "dead_lettered" | "ignored";

export class HostMetrics {
  readonly registry = new Registry();
  readonly events: Counter<"topic" | "type" | "outcome">;
  readonly duplicates: Counter<"type">;
  readonly handlerSeconds: Histogram<"type">;
  readonly publishSeconds: Histogram<"topic">;
  readonly publishFailures: Counter<"topic">;

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.events = new Counter({
      name: "taskapp_events_total",
      help: "Deliveries by outcome: handled, failed (will retry), busy (a dependency was busy; will retry), dead_lettered, ignored (type not consumed here).",
      labelNames: ["topic", "type", "outcome"],
      registers,
    });
    this.duplicates = new Counter({
      name: "taskapp_events_duplicate_total",
      help: "Effects skipped because they had already happened (once() found the key done).",
      labelNames: ["type"],
      registers,
    });
    this.handlerSeconds = new Histogram({
      name: "taskapp_handler_duration_seconds",
      help: "Time handlers took, by event type (successes and failures).",
      labelNames: ["type"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.publishSeconds = new Histogram({
      name: "taskapp_publish_duration_seconds",
      help: "Time to hand an event to the sidecar, retries included.",
      labelNames: ["topic"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.publishFailures = new Counter({
      name: "taskapp_publish_failures_total",
      help: "Publishes that failed after their bounded retries.",
      labelNames: ["topic"],
      registers,
    });
  }

  /** A counter of the function's own (task-api's refused requests, say). */
  counter(name: string, help: string): Counter {
    return new Counter({ name, help, registers: [this.registry] });
  }

  /** A gauge read when scraped (task-api's outbox backlog, say). */
  gauge(name: string, help: string, read: () => number): Gauge {
    return new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }
}

export const instrumentPublisher = (publisher: Publisher, metrics: HostMetrics): Publisher => ({
  async publish(topic, event) {
    const end = metrics.publishSeconds.startTimer({ topic });
    try {
      await publisher.publish(topic, event);
    } catch (err) {
      metrics.publishFailures.inc({ topic });
      throw err;
    } finally {
      end();
    }
  },
});
