import { Gauge, type Registry } from "prom-client";
import { parseDeadLetter } from "../../shared/catalog/dead-letter.ts";
import { CONSUMERS, deadLetterTopicOf, Service } from "../../shared/catalog/names.ts";
import { defineFunctionOf } from "../../shared/host/define.ts";
import type { LagMonitor } from "./monitor.ts";
import { PAGE } from "./page.ts";

/**
 * lag-dashboard: the page at /, its JSON at /api/lag (on the public port), and
 * lag gauges on /metrics named like kafka-exporter's (on the app port). It
 * follows every consumer's dead-letter topic through Dapr (a raw subscription, so
 * the originals Dapr forwards itself count as well as the host's records) for the
 * newest reasons.
 */
export const lagDashboard = defineFunctionOf(Service.LagDashboard, (deps: { monitor: LagMonitor; registry: Registry; onClose?: () => Promise<void> }) => {
  registerGauges(deps.monitor, deps.registry);
  return {
    consumers: [],
    rawSubscription: {
      topics: CONSUMERS.map(deadLetterTopicOf),
      receive({ topic, text, key }) {
        const service = CONSUMERS.find((c) => deadLetterTopicOf(c) === topic);
        if (service) deps.monitor.recordDeadLetter(service, key, parseDeadLetter(text));
      },
    },
    background: {
      start: () => deps.monitor.start(),
      stop: async () => {
        deps.monitor.stop();
        await deps.onClose?.();
      },
    },
    // For operators, on the public port; the dead letters come through the sidecar on the app port.
    publicRoutes: (app) => {
      app.get("/", async (_request, reply) => reply.type("text/html; charset=utf-8").send(PAGE));
      app.get("/api/lag", async (_request, reply) => {
        const latest = deps.monitor.latest ?? (await deps.monitor.sample());
        return reply.header("cache-control", "no-store").send({ ...latest, history: deps.monitor.history });
      });
    },
  };
});

const registerGauges = (monitor: LagMonitor, registry: Registry) => {
  const registers = [registry];
  const consumers = () => monitor.latest?.consumers ?? [];
  new Gauge({
    name: "kafka_consumergroup_lag",
    help: "Lag of a consumer group on a partition (log-end offset minus committed offset).",
    labelNames: ["consumergroup", "topic", "partition"],
    registers,
    collect() {
      this.reset();
      for (const c of consumers()) {
        for (const p of c.partitions) this.set({ consumergroup: c.group, topic: p.topic, partition: String(p.partition) }, p.lag);
      }
    },
  });
  new Gauge({
    name: "kafka_consumergroup_lag_sum",
    help: "Total lag of a consumer group over its topics.",
    labelNames: ["consumergroup"],
    registers,
    collect() {
      this.reset();
      for (const c of consumers()) this.set({ consumergroup: c.group }, c.totalLag);
    },
  });
  new Gauge({
    name: "kafka_consumergroup_members",
    help: "Members of a consumer group (0 = no consumer running).",
    labelNames: ["consumergroup"],
    registers,
    collect() {
      this.reset();
      for (const c of consumers()) this.set({ consumergroup: c.group }, c.members);
    },
  });
  new Gauge({
    name: "taskapp_keda_desired_replicas",
    help: "Replicas KEDA's Kafka scaler would choose now for the consumer, from its ScaledObject and the live lag.",
    labelNames: ["consumer"],
    registers,
    collect() {
      this.reset();
      for (const c of consumers()) this.set({ consumer: c.service }, c.keda.replicas);
    },
  });
  new Gauge({
    name: "taskapp_deadletter_depth",
    help: "Records on a service's dead-letter topic that operators have not acknowledged (npm run dlq -- ack, or replay --all).",
    labelNames: ["service"],
    registers,
    collect() {
      this.reset();
      for (const d of monitor.latest?.deadLetters ?? []) this.set({ service: d.service }, d.depth);
    },
  });
  new Gauge({
    name: "taskapp_deadletter_records",
    help: "Records a consumer's dead-letter topic holds (log-end minus log-start offsets).",
    labelNames: ["consumer"],
    registers,
    collect() {
      this.reset();
      for (const c of consumers()) this.set({ consumer: c.service }, c.deadLetters.depth);
    },
  });
};
