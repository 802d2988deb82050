import { timingSafeEqual } from "node:crypto";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors, serializerCompiler, validatorCompiler } from "fastify-type-provider-zod";
import { z } from "zod";
import { PUBSUB } from "../catalog/names.ts";
import type { Logger } from "../logger.ts";
import { inTrace, parseTraceparent, startSpan, type Span, type TraceContext } from "../trace.ts";
import type { FunctionDef } from "./define.ts";
import { Dispatcher, type DaprStatus } from "./dispatch.ts";
import { DependencyBusy, HttpError, serviceBusy, Unauthorized } from "./errors.ts";
import type { Once } from "./idempotency.ts";
import { HostMetrics } from "./metrics.ts";
import type { Publisher } from "./publisher.ts";
import { rawSubscriptionsOf, serveRawSubscription } from "./raw-subscription.ts";

export interface HostDeps {
  publisher: Publisher;
  once: Once;
  /** Created for the function if not given; give it to instrument what is built outside (publisher, gauges). */
  metrics?: HostMetrics;
  log: Logger;
  maxDeliveryAttempts: number;
}

/** Largest event batch body accepted from the sidecar (bulk subscribe). */
const EVENTS_BODY_LIMIT = 16 * 1024 * 1024;

export const eventsRoute = (topic: string): string => `/events/${encodeURIComponent(topic)}`;

/** The subscription list Dapr reads from GET /dapr/subscribe. */
export const subscriptionsOf = (fn: FunctionDef, deadLetterTopic: string, topics: string[]) =>
  topics.map((topic) => ({
    pubsubname: PUBSUB,
    topic,
    route: eventsRoute(topic),
    deadLetterTopic,
    ...(fn.bulk
      ? {
          bulkSubscribe: {
            enabled: true,
            maxMessagesCount: fn.bulk.maxMessagesCount,
            maxAwaitDurationMs: fn.bulk.maxAwaitDurationMs,
          },
        }
      : {}),
  }));

const BulkRequest = z.object({
  entries: z.array(z.looseObject({ entryId: z.string(), event: z.unknown(), contentType: z.string().optional() })),
});

/**
 * Builds a function's sidecar-facing app, without listening: tests drive it
 * with `inject`, main.ts listens on APP_PORT. It serves the Dapr contract
 * (subscriptions, event delivery single and bulk, raw records), the function's sidecar
 * routes (job callbacks, the internal API), /healthz and /metrics.
 *
 * Only the function's own sidecar may call it: every request but /healthz
 * (the sidecar's and the kubelet's probe, which carry no token) and /metrics
 * (Prometheus) must carry `dapr-api-token` equal to the app token, compared in
 * constant time; anything else is 401 before any work. Behind the token, the
 * caller's app-id that daprd sets (`dapr-caller-app-id`) can be trusted.
 */
export const buildApp = async (fn: FunctionDef, deps: HostDeps & { appApiToken: string }): Promise<FastifyInstance> => {
  const app = baseApp(deps.log, fn);
  const metrics = deps.metrics ?? new HostMetrics(fn.name);
  const dispatcher = new Dispatcher(fn, {
    publisher: deps.publisher,
    once: deps.once,
    metrics,
    log: deps.log,
    maxAttempts: deps.maxDeliveryAttempts,
  });
  requireAppToken(app, deps.appApiToken);

  // Dapr delivers single events as application/cloudevents+json.
  app.addContentTypeParser(
    ["application/cloudevents+json", "application/cloudevents-batch+json"],
    { parseAs: "string", bodyLimit: EVENTS_BODY_LIMIT },
    app.getDefaultJsonParser("error", "ignore"),
  );

  app.get("/metrics", async (_request, reply) => reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics()));

  app.get("/dapr/subscribe", async () => [
    ...subscriptionsOf(fn, dispatcher.deadLetterTopic, dispatcher.topics),
    ...(fn.rawSubscription ? rawSubscriptionsOf(fn.rawSubscription) : []),
  ]);

  for (const topic of dispatcher.topics) {
    app.post(eventsRoute(topic), { bodyLimit: EVENTS_BODY_LIMIT }, async (request) => {
      const bulk = BulkRequest.safeParse(request.body);
      if (!bulk.success) {
        // A single delivery's traceparent header is daprd's span of it, a child of the event's.
        return { status: await dispatcher.deliver(topic, request.body, parseTraceparent(request.headers.traceparent, request.headers.tracestate)) };
      }
      return { statuses: await deliverBulk(dispatcher, topic, bulk.data.entries) };
    });
  }

  if (fn.rawSubscription) await serveRawSubscription(app, fn.rawSubscription);
  await fn.sidecarRoutes?.(app);
  return app;
};

/**
 * Builds a function's public app (task-api's API), for the port the Ingress
 * reaches: the function's public routes and /healthz, nothing the sidecar
 * calls, no /metrics. The function authenticates its callers itself.
 */
export const buildPublicApp = async (fn: FunctionDef, deps: { log: Logger }): Promise<FastifyInstance | undefined> => {
  if (!fn.publicRoutes) return undefined;
  const app = baseApp(deps.log, fn);
  const routes = new Map<string, Set<string>>();
  app.addHook("onRoute", (route) => {
    // The API's own routes (they declare a schema); not what plugins add (documentation pages).
    if (!route.schema || (route.schema as { hide?: boolean }).hide) return;
    const methods = routes.get(route.url) ?? new Set<string>();
    for (const m of [route.method].flat()) methods.add(m);
    routes.set(route.url, methods);
  });
  await fn.publicRoutes(app);
  await app.after();
  answerUndeclaredMethods(app, routes);
  return app;
};

/** What both apps share: the logger, zod schemas on routes, /healthz, one error handler. */
const baseApp = (log: Logger, fn: FunctionDef): FastifyInstance => {
  // fastify's logger type trails pino's by a major version; the instance is compatible.
  const app: FastifyInstance = Fastify({
    loggerInstance: log as unknown as FastifyBaseLogger,
    // Long path parameters reach the route's schema, which names what is wrong with them (400), instead of a bare 414.
    routerOptions: { maxParamLength: 1_000 },
    // One log line per event comes from the dispatcher; per-request lines would double the hot path's logging.
    logController: new LogController({ disableRequestLogging: true }),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler(fn));
  traceRequests(app);
  app.get("/healthz", async () => ({ status: "ok", service: fn.name }));
  return app;
};

const isJobCallback = (url: string): boolean => url.startsWith("/job/");

/** Paths whose requests are not traced as requests: probes, metrics, Dapr's subscription list, and event deliveries (each event is traced by the dispatcher). */
const untraced = (url: string): boolean => OPEN_PATHS.has(url) || url.startsWith("/dapr/") || url.startsWith("/events/");

/**
 * Every other request runs in its trace: a span of ours (a child of the caller's `traceparent`, or
 * a new trace), and entered again once the body is read, so the handler runs in it however the body stream called back.
 */
const traceRequests = (app: FastifyInstance): void => {
  const spans = new WeakMap<FastifyRequest, Span>();
  const start = (request: FastifyRequest, parent: TraceContext | undefined): Span => {
    const span = startSpan(`${request.method} ${request.routeOptions.url ?? "(no route)"}`, "SERVER", parent, {
      "http.method": request.method,
      "http.path": request.url.split("?")[0]!,
    });
    spans.set(request, span);
    return span;
  };
  const callerTrace = (request: FastifyRequest) => parseTraceparent(request.headers.traceparent, request.headers.tracestate);
  app.addHook("onRequest", (request, _reply, done) => {
    const url = request.url.split("?")[0]!;
    if (untraced(url) || isJobCallback(url)) return done();
    inTrace(start(request, callerTrace(request)).trace, done);
  });
  app.addHook("preValidation", (request, _reply, done) => {
    // A job's callback continues the trace the job was scheduled in (its data carries it: jobs.ts).
    if (isJobCallback(request.url)) {
      const data = (typeof request.body === "object" && request.body !== null ? request.body : {}) as { traceparent?: unknown; tracestate?: unknown };
      return inTrace(start(request, parseTraceparent(data.traceparent, data.tracestate) ?? callerTrace(request)).trace, done);
    }
    const span = spans.get(request);
    return span ? inTrace(span.trace, done) : done();
  });
  app.addHook("onResponse", (request, reply, done) => {
    spans.get(request)?.end({ "http.status_code": reply.statusCode, ...(reply.statusCode >= 500 ? { error: String(reply.statusCode) } : {}) });
    done();
  });
};

/** Paths any caller may read: probes (which carry no token) and metrics (Prometheus). */
const OPEN_PATHS = new Set(["/healthz", "/metrics"]);

/** Refuses (401) every request but /healthz and /metrics that does not carry the sidecar's app token. */
export const requireAppToken = (app: FastifyInstance, token: string): void => {
  const expected = Buffer.from(token);
  app.addHook("onRequest", async (request) => {
    if (OPEN_PATHS.has(request.url.split("?")[0]!)) return;
    const given = request.headers["dapr-api-token"];
    const presented = Buffer.from(typeof given === "string" ? given : "");
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) {
      throw new Unauthorized(
        given === undefined ? "this port answers the function's Dapr sidecar only: dapr-api-token missing" : "dapr-api-token does not match",
        "dapr-app",
      );
    }
  });
};

/**
 * A method a path does not declare is 405 with the methods it does (Allow), not 404 or a complaint
 * about its body: refused on arrival, before the body is read.
 */
const answerUndeclaredMethods = (app: FastifyInstance, routes: Map<string, Set<string>>): void => {
  for (const [url, declared] of routes) {
    const missing = app.supportedMethods.filter((m) => !declared.has(m) && m !== "HEAD");
    if (missing.length === 0 || url === "*") continue;
    const allow = [...declared].filter((m) => m !== "HEAD").join(", ");
    const refuse = async () => {
      throw new HttpError(405, { error: "method not allowed", reason: `${url} answers ${allow}` }, { allow });
    };
    app.route({
      method: missing,
      url,
      schema: { hide: true }, // not part of the API: no OpenAPI operation for it
      onRequest: refuse,
      handler: refuse,
    });
  }
};

/**
 * The one error handler of every function: an HttpError is sent as it is; a
 * request that fails its schema is 400 with every bad field named; fastify's
 * own 4xx (malformed JSON, body too large, unsupported media type) keep their
 * status; a busy dependency is 503 with Retry-After; the function maps its own
 * failures (FunctionDef.httpErrors); anything else is logged and 500.
 */
const errorHandler = (fn: FunctionDef) => (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
  const known = err instanceof HttpError ? err : (fn.httpErrors?.(err) ?? asHttpError(err));
  if (known) {
    if (known.status >= 500) request.log.warn({ err }, `answered ${known.status}`);
    return reply.code(known.status).headers(known.headers).send(known.body);
  }
  request.log.error({ err }, "request failed");
  return reply.code(500).send({ error: "internal error" });
};

const asHttpError = (err: FastifyError): HttpError | undefined => {
  if (hasZodFastifySchemaValidationErrors(err)) {
    const where = err.validationContext ?? "body";
    return new HttpError(400, {
      error: "invalid request",
      issues: err.validation.flatMap((issue) => {
        const field = issue.instancePath.split("/").filter(Boolean).join(".");
        const keys = (issue.params as { keys?: unknown }).keys;
        return issue.keyword === "unrecognized_keys" && Array.isArray(keys)
          ? keys.map((key) => ({ in: where, field: [field, String(key)].filter(Boolean).join("."), message: "unknown field" }))
          : [{ in: where, field: field || "(root)", message: issue.message }];
      }),
    });
  }
  if (err instanceof DependencyBusy) return serviceBusy(err.message);
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return new HttpError(err.statusCode, { error: err.message, ...(err.code ? { code: err.code } : {}) });
  }
  return undefined;
};

const BULK_CONCURRENCY = 16;

/**
 * A bulk batch mixes partitions. Events of one subject (task) are handled in
 * order; different subjects run concurrently.
 */
const deliverBulk = async (
  dispatcher: Dispatcher,
  topic: string,
  entries: { entryId: string; event: unknown }[],
): Promise<{ entryId: string; status: DaprStatus }[]> => {
  const bySubject = new Map<string, { entryId: string; event: unknown }[]>();
  for (const entry of entries) {
    const subject = subjectOf(entry.event) ?? entry.entryId;
    const chain = bySubject.get(subject);
    if (chain) chain.push(entry);
    else bySubject.set(subject, [entry]);
  }
  const statuses = new Map<string, DaprStatus>();
  const chains = [...bySubject.values()];
  let next = 0;
  // A batch's tasks run side by side, BULK_CONCURRENCY at a time: enough to fill a batched write,
  // not so many that a store which takes one writer at a time (SQLite) spends its time waiting.
  await Promise.all(
    Array.from({ length: Math.min(BULK_CONCURRENCY, chains.length) }, async () => {
      while (next < chains.length) {
        let blocked = false;
        for (const entry of chains[next++]!) {
          // After a RETRY, later events of the same task wait for it: per-task order holds.
          const status: DaprStatus = blocked ? "RETRY" : await dispatcher.deliver(topic, entry.event);
          blocked ||= status === "RETRY";
          statuses.set(entry.entryId, status);
        }
      }
    }),
  );
  return entries.map((e) => ({ entryId: e.entryId, status: statuses.get(e.entryId) ?? "RETRY" }));
};

const subjectOf = (event: unknown): string | undefined =>
  typeof event === "object" && event !== null && typeof (event as { subject?: unknown }).subject === "string"
    ? (event as { subject: string }).subject
    : undefined;
