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

/**
 * The public ports (PUBLIC_PORT) of the functions that serve people, not their sidecar: task-api's
 * API (clients, through the Service and the Ingress) and lag-dashboard's page (operators, by
 * port-forward). What is not here has no public port.
 */
export const PUBLIC_PORTS: Readonly<Partial<Record<ServiceName, number>>> = {
  [Service.TaskApi]: 8080,
  [Service.LagDashboard]: 8090,
};
export const TASK_API_PUBLIC_PORT = PUBLIC_PORTS[Service.TaskApi]!;
export const DASHBOARD_PORT = PUBLIC_PORTS[Service.LagDashboard]!;

/**
 * The app ports when every function runs on one machine (the Dapr run file): distinct, since the
 * pods' 3000 would collide there. `npm run dev` takes free ones.
 */
export const LOCAL_APP_PORTS: Readonly<Record<ServiceName, number>> = {
  [Service.TaskApi]: 3001,
  [Service.RecurringTaskService]: 3002,
  [Service.NotificationService]: 3003,
  [Service.AuditService]: 3004,
  [Service.LagDashboard]: 3005,
};

/**
 * daprd's ports in a pod, named as Dapr 1.18.2's sidecar injector names them
 * (pkg/injector/patcher/sidecar.go defaults, pkg/injector/consts: dapr-internal, dapr-metrics).
 */
export const DAPRD_PORTS = {
  /** daprd's HTTP API, what its app calls (DAPR_HTTP_PORT); on loopback, inside the pod. */
  "dapr-http": 3500,
  /** Sidecar to sidecar (service invocation): the one daprd port other pods must reach. */
  "dapr-internal": 50002,
  /** daprd's Prometheus metrics (`dapr.io/metrics-port`). */
  "dapr-metrics": 9090,
} as const;

/** The port a function's sidecar calls it on in a pod (`dapr.io/app-port`): the same for every function. */
export const appPortOf = (_service: ServiceName): number => APP_PORT;
