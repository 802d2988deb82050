/**
 * Runs a function definition in the test process, on free ports, with a real
 * daprd beside it: the production host and sidecar, driven by the test. Both
 * hops are authenticated as in production (app token, Dapr API token).
 */
import type { FastifyInstance } from "fastify";
import { newToken } from "../../tools/stack/functions.ts";
import { sidecarFor, type StackInfo } from "../../tools/stack/stack.ts";
import type { Sidecar } from "../../tools/stack/dapr.ts";
import { freePort } from "../../tools/stack/process.ts";
import { buildApp } from "../host/app.ts";
import type { FunctionDef } from "../host/define.ts";
import { createOnce, daprStateClient } from "../host/idempotency.ts";
import { createDaprPublisher, type Publisher } from "../host/publisher.ts";
import type { SidecarAddress } from "../host/sidecar.ts";
import { createLogger } from "../logger.ts";

export interface FunctionUnderTest {
  app: FastifyInstance;
  sidecar: Sidecar;
  /** The sidecar's API with its token. */
  sidecarAddress: SidecarAddress;
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
  const sidecarAddress: SidecarAddress = { daprHost: "127.0.0.1", daprPort: await freePort(), apiToken: newToken() };
  const appApiToken = newToken();
  const publisher = createDaprPublisher(sidecarAddress);
  const app = await buildApp(fn, {
    publisher,
    once: createOnce(daprStateClient(sidecarAddress)),
    log: createLogger(fn.name, process.env["LOG_LEVEL"] ?? "warn"),
    maxDeliveryAttempts: opts.maxDeliveryAttempts ?? 4,
    appApiToken,
  });
  await app.listen({ host: "127.0.0.1", port: appPort });
  let sidecar: Sidecar;
  try {
    sidecar = await sidecarFor(stack, fn.name, appPort, { httpPort: sidecarAddress.daprPort, appApiToken, daprApiToken: sidecarAddress.apiToken! });
  } catch (err) {
    await app.close();
    throw err;
  }
  return {
    app,
    sidecar,
    sidecarAddress,
    publisher,
    stop: async () => {
      await sidecar.stop();
      await app.close();
    },
  };
};
