/** `npm run provision`: resolve Kafka and build or find daprd + scheduler, into the cache. */
import { provision } from "./provision.ts";

const started = Date.now();
provision().then(
  ({ kafka, dapr }) => {
    process.stdout.write(
      `provisioned in ${((Date.now() - started) / 1000).toFixed(1)} s\n` +
        `  kafka: ${kafka ? kafka.classpath : "KAFKA_BROKERS (not provisioned)"}\n` +
        `  daprd: ${dapr.daprd}\n  scheduler: ${dapr.scheduler}\n  from: ${dapr.origin}\n`,
    );
  },
  (err: unknown) => {
    process.stderr.write(`provisioning failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
