import { z } from "zod";
import { APP_PORT, DAPRD_PORTS, TASK_API_PUBLIC_PORT } from "./catalog/ports.ts";

/** Parses configuration once at start-up; a bad value stops the process with every problem named. */
export const parseConfig = <S extends z.ZodType>(schema: S, env: Record<string, string | undefined> = process.env): z.output<S> => {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `  ${issue.path.join(".") || "(root)"}: ${issue.message}`).join("\n");
  throw new ConfigError(`invalid configuration:\n${problems}`);
};

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const port = z.coerce.number().int().min(1).max(65535);

/** What every function reads from its environment. */
export const HostConfig = z.object({
  /** Where the app answers its sidecar (Dapr's app port): event delivery, job callbacks, service invocation. */
  APP_PORT: port.default(APP_PORT),
  /** Where a function with a public API (task-api) serves it: the port the Ingress reaches. */
  PUBLIC_PORT: port.default(TASK_API_PUBLIC_PORT),
  /** 0.0.0.0 in a pod (probes come from the kubelet); loopback is enough locally. */
  APP_HOST: z.string().min(1).default("127.0.0.1"),
  DAPR_HOST: z.string().min(1).default("127.0.0.1"),
  DAPR_HTTP_PORT: port.default(DAPRD_PORTS["dapr-http"]),
  /**
   * The token the sidecar sends on every call into the app (dapr-api-token; daprd's APP_API_TOKEN).
   * Required: a function answers nothing but /healthz and /metrics to a caller without it.
   */
  APP_API_TOKEN: z
    .string({ message: "required: the token the sidecar sends on every call into the app (daprd's APP_API_TOKEN)" })
    .min(16, "at least 16 characters"),
  /** The token the sidecar asks for on its own API (daprd's DAPR_API_TOKEN); set wherever the sidecar is started with it. */
  DAPR_API_TOKEN: z.string().min(16, "at least 16 characters").optional(),
  /**
   * Zipkin's span API (…/api/v2/spans): with it, the function reports its own spans (each request,
   * handled event and published event) there; without it, it only carries the trace context.
   */
  TRACING_ZIPKIN_URL: z.url({ protocol: /^https?$/ }).optional(),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /**
   * Deliveries of one event before the host dead-letters it with the reason. With the local
   * resiliency policy's backoff, 8 deliveries span about 15 s: a dependency that is briefly
   * unavailable (an overloaded task-api) does not send events to the dead-letter topic.
   * Keep it below the resiliency policy's inbound maxRetries + 1, which is only the backstop.
   */
  DELIVERY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(8),
  /**
   * How long a claimed effect (ctx.once) is held before another delivery may take it over,
   * should the holder die. Keep it well inside the resiliency policy's inbound retry window.
   */
  CLAIM_LEASE_MS: z.coerce.number().int().min(1_000).max(600_000).default(15_000),
});
export type HostConfig = z.output<typeof HostConfig>;
