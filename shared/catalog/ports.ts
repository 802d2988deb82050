/**
 * Ports that cross a process boundary, the same wherever a function runs: the manifests
 * (deploy/base, checked against these by tools/manifests/checks.ts), the Dapr run file (dapr.yaml,
 * generated from these) and npm run dev.
 */
import { Service, type ServiceName } from "./names.ts";

/**
 * Every function's Dapr-facing port (`dapr.io/app-port`, APP_PORT): what its own sidecar calls
 * (deliveries, job callbacks, the internal API, /dapr/subscribe), plus /healthz and /metrics.
 * Only the sidecar calls it, with the app token.
 */
export const APP_PORT = 3000;

/** task-api's public API (PUBLIC_PORT): clients, through the Service and the Ingress. */
export const TASK_API_PUBLIC_PORT = 8080;

/**
 * lag-dashboard's one port: its page, /api/lag, /metrics and its dead-letter subscription. Operators
 * reach it by port-forward in a cluster.
 */
export const DASHBOARD_PORT = 8090;

/**
 * daprd's ports in a pod, named as Dapr 1.18.2's sidecar injector names them
 * (pkg/injector/patcher/sidecar.go defaults, pkg/injector/consts: dapr-internal, dapr-metrics).
 */
export const DAPRD_PORTS = {
  /** Sidecar to sidecar (service invocation): the one daprd port other pods must reach. */
  "dapr-internal": 50002,
  /** daprd's Prometheus metrics (`dapr.io/metrics-port`). */
  "dapr-metrics": 9090,
} as const;

/** The port a function's sidecar calls it on (`dapr.io/app-port`): the dashboard has one port for everything. */
export const appPortOf = (service: ServiceName): number => (service === Service.LagDashboard ? DASHBOARD_PORT : APP_PORT);
