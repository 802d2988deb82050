/**
 * Runs a function definition in the test process, on free ports, with a real
 * daprd beside it: the production host (wireHost, the same wiring as a
 * function's process) and sidecar, driven by the test. Both hops are
 * authenticated as in production (app token, Dapr API token).
 */
import type { FastifyInstance } from "fastify";
import { HostConfig, parseConfig } from "../../shared/config.ts";
import type { FunctionDef } from "../../shared/host/define.ts";
import type { Publisher } from "../../shared/host/publisher.ts";
import { buildFunctionApps, wireHost } from "../../shared/host/run.ts";
import type { SidecarAddress } from "../../shared/host/sidecar.ts";
import type { Sidecar } from "./dapr.ts";
import { newWiring } from "./functions.ts";
import { sidecarFor, type StackInfo } from "./stack.ts";

export interface FunctionUnderTest {
  app: FastifyInstance;
  sidecar: Sidecar;
  /** The sidecar's API with its token. */
  sidecarAddress: SidecarAddress;
  /** Publishes through this function's own sidecar. */
  publisher: Publisher;
  stop(): Promise<void>;
}

export const runWithSidecar = async (stack: StackInfo, fn: FunctionDef, opts: { maxDeliveryAttempts?: number } = {}): Promise<FunctionUnderTest> => {
  const wiring = await newWiring();
  const host = wireHost(
    fn.name,
    parseConfig(HostConfig, {
      ...wiring.env,
      LOG_LEVEL: process.env["LOG_LEVEL"] ?? "warn",
      DELIVERY_MAX_ATTEMPTS: String(opts.maxDeliveryAttempts ?? 4),
    }),
  );
  const { app } = await buildFunctionApps(fn, host);
  await app.listen({ host: "127.0.0.1", port: wiring.appPort });
  let sidecar: Sidecar;
  try {
    sidecar = await sidecarFor(stack, fn.name, wiring.appPort, {
      httpPort: wiring.daprHttpPort,
      appApiToken: wiring.appApiToken,
      daprApiToken: wiring.daprApiToken,
    });
  } catch (err) {
    await app.close();
    throw err;
  }
  return {
    app,
    sidecar,
    sidecarAddress: host.sidecar,
    publisher: host.publisher,
    stop: async () => {
      await sidecar.stop();
      await app.close();
    },
  };
};
