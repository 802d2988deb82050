/**
 * Facts of Dapr 1.18.2's sidecar injector, the Dapr the manifests are written for (the module
 * tools/dapr-build pins), read from its source: github.com/dapr/dapr@v1.18.2,
 * pkg/injector/patcher/sidecar.go (the `annotation:"…"` tags of SidecarConfig),
 * pkg/injector/patcher/sidecar_container.go and pkg/injector/consts/consts.go.
 * An annotation the injector does not know is silently ignored in a cluster, so the checks refuse
 * any dapr.io/* annotation outside this list.
 */

/** Every pod annotation the 1.18.2 injector reads (all 63 annotation tags of SidecarConfig). */
export const DAPR_INJECTOR_ANNOTATIONS: ReadonlySet<string> = new Set([
  "dapr.io/enabled",
  "dapr.io/app-port",
  "dapr.io/config",
  "dapr.io/app-protocol",
  "dapr.io/app-ssl",
  "dapr.io/app-id",
  "dapr.io/enable-profiling",
  "dapr.io/log-level",
  "dapr.io/api-token-secret",
  "dapr.io/app-token-secret",
  "dapr.io/log-as-json",
  "dapr.io/app-max-concurrency",
  "dapr.io/enable-metrics",
  "dapr.io/metrics-port",
  "dapr.io/enable-debug",
  "dapr.io/debug-port",
  "dapr.io/env",
  "dapr.io/env-from-secret",
  "dapr.io/grpc-port",
  "dapr.io/internal-grpc-port",
  "dapr.io/sidecar-cpu-request",
  "dapr.io/sidecar-cpu-limit",
  "dapr.io/sidecar-memory-request",
  "dapr.io/sidecar-memory-limit",
  "dapr.io/sidecar-listen-addresses",
  "dapr.io/sidecar-liveness-probe-delay-seconds",
  "dapr.io/sidecar-liveness-probe-timeout-seconds",
  "dapr.io/sidecar-liveness-probe-period-seconds",
  "dapr.io/sidecar-liveness-probe-threshold",
  "dapr.io/sidecar-readiness-probe-delay-seconds",
  "dapr.io/sidecar-readiness-probe-timeout-seconds",
  "dapr.io/sidecar-readiness-probe-period-seconds",
  "dapr.io/sidecar-readiness-probe-threshold",
  "dapr.io/sidecar-image",
  "dapr.io/sidecar-seccomp-profile-type",
  "dapr.io/http-max-request-size",
  "dapr.io/max-body-size",
  "dapr.io/http-read-buffer-size",
  "dapr.io/read-buffer-size",
  "dapr.io/graceful-shutdown-seconds",
  "dapr.io/block-shutdown-duration",
  "dapr.io/enable-api-logging",
  "dapr.io/unix-domain-socket-path",
  "dapr.io/volume-mounts",
  "dapr.io/volume-mounts-rw",
  "dapr.io/disable-builtin-k8s-secret-store",
  "dapr.io/enable-app-health-check",
  "dapr.io/app-health-check-path",
  "dapr.io/app-health-probe-interval",
  "dapr.io/app-health-probe-timeout",
  "dapr.io/app-health-threshold",
  "dapr.io/placement-host-address",
  "dapr.io/actors-disseminate-timeout",
  "dapr.io/scheduler-host-address",
  "dapr.io/pluggable-components",
  "dapr.io/pluggable-components-sockets-folder",
  "dapr.io/component-container",
  "dapr.io/inject-pluggable-components",
  "dapr.io/app-channel-address",
  "dapr.io/sentry-request-jwt-audiences",
  "dapr.io/sidecar-svc-annotations",
  "dapr.io/disable-init-endpoints",
  "dapr.io/enable-native-sidecar",
]);

/**
 * The key the injector reads from the Secrets named by dapr.io/app-token-secret (→ daprd's
 * APP_API_TOKEN) and dapr.io/api-token-secret (→ DAPR_API_TOKEN): sidecar_container.go.
 */
export const DAPR_TOKEN_SECRET_KEY = "token";

/**
 * The container ports the injector gives daprd (consts.go), which NetworkPolicies name.
 * Dropping daprd's capabilities is not a pod annotation in 1.18.2: it is the injector's setting
 * SIDECAR_DROP_ALL_CAPABILITIES (Helm value dapr_sidecar_injector.sidecarDropALLCapabilities).
 */
export const DAPRD_PORT_NAMES = ["dapr-http", "dapr-grpc", "dapr-internal", "dapr-metrics"] as const;
