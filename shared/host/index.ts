export { buildApp, subscriptionsOf, type HostDeps } from "./app.ts";
export { defineConsumer, defineFunction, defineFunctionOf, type Consumer, type FunctionDef, type FunctionFactory, type HandlerContext } from "./define.ts";
export { PermanentError, permanent, PublishError } from "./errors.ts";
export { createDaprJobs, type Jobs } from "./jobs.ts";
export { createDaprPublisher, withRetry, type Publisher } from "./publisher.ts";
export { buildFunctionApps, runFunction, wireHost, type HostContext } from "./run.ts";
export { ClaimBusy, createOnce, daprStateClient, type Once } from "./idempotency.ts";
export { createDaprInvoker, type Invoker } from "./invoke.ts";
export { HostMetrics, instrumentPublisher } from "./metrics.ts";
