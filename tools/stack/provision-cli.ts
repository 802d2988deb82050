/**
 * `npm run provision`: resolve Kafka, build or find daprd + scheduler, and build the local
 * Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager, KEDA) and the API fuzzer
 * (schemathesis) and Zipkin's server (`npm run dev -- --tracing`), into the cache.
 */
import { ensureSchemathesis } from "../fuzz/provision.ts";
import { ensureControlPlane } from "./control-plane-build.ts";
import { ensureZipkin, provision } from "./provision.ts";

const started = Date.now();
Promise.all([provision(), ensureControlPlane(), ensureSchemathesis(), ensureZipkin()]).then(
  ([{ kafka, dapr }, controlPlane, schemathesis, zipkin]) => {
    process.stdout.write(
      `provisioned in ${((Date.now() - started) / 1000).toFixed(1)} s\n` +
        `  kafka: ${kafka ? kafka.classpath : "KAFKA_BROKERS (not provisioned)"}\n` +
        `  daprd: ${dapr.daprd}\n  scheduler: ${dapr.scheduler}\n  from: ${dapr.origin}\n` +
        `  kube-apiserver: ${controlPlane.kubeApiserver}\n  keda-operator: ${controlPlane.kedaOperator}\n` +
        `  schemathesis: ${schemathesis}\n  zipkin: ${zipkin.jar}\n`,
    );
  },
  (err: unknown) => {
    process.stderr.write(`provisioning failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
