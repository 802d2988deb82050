/**
 * Runs a function definition in the test process, on a free port, with a real
 * daprd beside it: the production host and sidecar, driven by the test.
 */
import type { FastifyInstance } from "fastify";
import { sidecarFor, type StackInfo } from "../../tools/stack/stack.ts";
import type { Sidecar } from "../../tools/stack/dapr.ts";
import { freePort } from "../../tools/stack/process.ts";
import { buildApp } from "../host/app.ts";
import type { FunctionDef } from "../host/define.ts";
import { createOnce, daprStateClient } from "../host/idempotency.ts";
import { createDaprPublisher, type Publisher } from "../host/publisher.ts";
import { createLogger } from "../logger.ts";

export interface FunctionUnderTest {
  app: FastifyInstance;
  sidecar: Sidecar;
  /** Publishes through this function's own sidecar. */
  publisher: Publisher;
  stop(): Promise<void>;
}

export const runWithSidecar = async (
  stack: StackInfo,
  fn: FunctionDef,
  opts: { maxDeliveryAttempts?: number } = {},
): Promise<FunctionUnderTest> => {
  const appPort = await freePort();
  const daprHttpPort = await freePort();
  const publisher = createDaprPublisher({ daprHost: "127.0.0.1", daprPort: daprHttpPort });
  const app = await buildApp(fn, {
    publisher,
    once: createOnce(daprStateClient({ daprHost: "127.0.0.1", daprPort: daprHttpPort })),
    log: createLogger(fn.name, process.env["LOG_LEVEL"] ?? "warn"),
    maxDeliveryAttempts: opts.maxDeliveryAttempts ?? 4,
  });
  await app.listen({ host: "127.0.0.1", port: appPort });
  let sidecar: Sidecar;
  try {
    sidecar = await sidecarFor(stack, fn.name, appPort, { httpPort: daprHttpPort });
  } catch (err) {
    await app.close();
    throw err;
  }
  return {
    app,
    sidecar,
    publisher,
    stop: async () => {
      await sidecar.stop();
      await app.close();
    },
  };
};
