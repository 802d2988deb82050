/**
 * Cross-checks of the functions' workloads: Deployments (Dapr annotations, tokens, ports, probes,
 * security), Services, images, service accounts and RBAC, and the Secrets they reference.
 */
import { CONSUMERS, Service, type ServiceName } from "../../../shared/catalog/names.ts";
import { appPortOf, DAPRD_PORTS, PUBLIC_PORTS } from "../../../shared/catalog/ports.ts";
import { DAPR_INJECTOR_ANNOTATIONS, DAPR_TOKEN_SECRET_KEY } from "../dapr-injector.ts";
import {
  containerOf,
  envOf,
  list,
  SECRET_NAME,
  sameSet,
  type CheckContext,
  type Configuration,
  type Deployment,
  type Rendered,
  type Role,
  type RoleBinding,
  type KubeService,
  type ServiceAccount,
} from "./model.ts";

/**
 * What each function reads from the Kubernetes API (functions/lag-dashboard/cluster.ts): only
 * these get a service-account token and a Role, read-only, in their own namespace.
 */
export const KUBE_API_READS: Readonly<Partial<Record<ServiceName, readonly { group: string; resource: string }[]>>> = {
  [Service.LagDashboard]: [
    { group: "keda.sh", resource: "scaledobjects" },
    { group: "apps", resource: "deployments" },
    { group: "autoscaling", resource: "horizontalpodautoscalers" },
  ],
};
const READ_VERBS = ["get", "list", "watch"];

/** The Secrets of a function's Dapr tokens: sidecar → app and app → sidecar. */
export const appTokenSecretOf = (service: string): string => `${service}-app-token`;
export const daprApiTokenSecretOf = (service: string): string => `${service}-dapr-api-token`;

/** The named container port the public API listens on (task-api only). */
const PUBLIC = "public";
/** The named container port the sidecar calls the app on (`dapr.io/app-port`), where /metrics is. */
const APP = "app";

export const checkWorkloads = (r: Rendered, context: CheckContext): string[] => {
  const problems: string[] = [];
  const add = (line: string) => problems.push(line);
  const deployments = r.of<Deployment>("Deployment", "apps");
  const services = r.core<KubeService>("Service");
  const configurations = r.of<Configuration>("Configuration", "dapr.io");
  const serviceAccounts = r.core<ServiceAccount>("ServiceAccount");

  // No credentials in the repo.
  for (const o of r.core("Secret")) {
    add(`Secret/${o.metadata.name}: Secrets are created in the cluster (docs/deploy.md), never kept in the manifests`);
  }

  for (const service of context.deployed) {
    const d = r.named(deployments, service);
    if (!d) {
      add(`Deployment/${service} is missing`);
      continue;
    }
    const id = `Deployment/${service}`;
    const annotations = d.spec?.template?.metadata?.annotations ?? {};
    const appId = annotations["dapr.io/app-id"];
    if (appId !== service) add(`${id}: dapr.io/app-id "${appId ?? ""}" differs from the Deployment name`);
    if (annotations["dapr.io/enabled"] !== "true") add(`${id}: dapr.io/enabled must be "true"`);
    if (annotations["dapr.io/app-protocol"] !== "http") add(`${id}: dapr.io/app-protocol must be "http"`);
    const config = annotations["dapr.io/config"];
    if (!config || !r.named(configurations, config)) add(`${id}: dapr.io/config "${config ?? ""}" names no Dapr Configuration`);
    for (const key of Object.keys(annotations).filter((k) => k.startsWith("dapr.io/"))) {
      if (!DAPR_INJECTOR_ANNOTATIONS.has(key)) add(`${id}: annotation ${key} is not one Dapr 1.18.2's sidecar injector reads (it would be ignored)`);
    }

    // The Dapr tokens: the sidecar authenticates to the app and the app to the sidecar.
    if (annotations["dapr.io/app-token-secret"] !== appTokenSecretOf(service)) {
      add(`${id}: dapr.io/app-token-secret must be ${appTokenSecretOf(service)} (the sidecar sends it on every call into the app)`);
    }
    if (annotations["dapr.io/api-token-secret"] !== daprApiTokenSecretOf(service)) {
      add(`${id}: dapr.io/api-token-secret must be ${daprApiTokenSecretOf(service)} (the sidecar accepts only calls carrying it)`);
    }
    const metricsPort = annotations["dapr.io/metrics-port"];
    if (annotations["dapr.io/enable-metrics"] === "false") add(`${id}: daprd's metrics must stay on (Prometheus scrapes them)`);
    if (metricsPort !== undefined && metricsPort !== String(DAPRD_PORTS["dapr-metrics"])) {
      add(`${id}: dapr.io/metrics-port ${metricsPort}: the scrape config and the NetworkPolicies expect ${DAPRD_PORTS["dapr-metrics"]}`);
    }

    // The pod: its own service account, a token only where the function reads the API server.
    const pod = d.spec?.template?.spec;
    if (pod?.securityContext?.runAsNonRoot !== true) add(`${id}: pod must set runAsNonRoot: true`);
    if (pod?.securityContext?.seccompProfile?.type !== "RuntimeDefault") add(`${id}: pod must use seccomp RuntimeDefault`);
    if (pod?.serviceAccountName !== service) add(`${id}: serviceAccountName "${pod?.serviceAccountName ?? ""}" must be its own, ${service}`);
    else if (!r.named(serviceAccounts, service)) add(`ServiceAccount/${service} is missing`);
    const readsApi = KUBE_API_READS[service] !== undefined;
    if (readsApi && pod?.automountServiceAccountToken !== true) {
      add(`${id}: automountServiceAccountToken must be true: it reads the API server with its token`);
    }
    if (!readsApi && pod?.automountServiceAccountToken !== false) {
      add(`${id}: automountServiceAccountToken must be false: it never calls the Kubernetes API`);
    }

    const container = containerOf(d);
    if (!container) {
      add(`${id}: no container named ${service}`);
    } else {
      const port = (name: string) => container.ports?.find((p) => p.name === name)?.containerPort;
      const env = envOf(container);
      const appPort = appPortOf(service);
      if (port(APP) !== appPort) add(`${id}: container port "${APP}" is ${String(port(APP))}, the catalog says ${appPort} (shared/catalog/ports.ts)`);
      if (annotations["dapr.io/app-port"] !== String(appPort)) {
        add(`${id}: dapr.io/app-port "${annotations["dapr.io/app-port"] ?? ""}" differs from the app port ${appPort}`);
      }
      if (env.get("APP_PORT")?.value !== String(appPort)) add(`${id}: APP_PORT differs from the app port ${appPort}`);
      if (env.get("APP_HOST")?.value !== "0.0.0.0") add(`${id}: APP_HOST must be 0.0.0.0 (probes come from the kubelet)`);
      const publicPort = PUBLIC_PORTS[service];
      const probePort = publicPort !== undefined ? PUBLIC : APP;
      if (publicPort !== undefined) {
        if (port(PUBLIC) !== publicPort) add(`${id}: container port "${PUBLIC}" is ${String(port(PUBLIC))}, the catalog says ${publicPort}`);
        if (env.get("PUBLIC_PORT")?.value !== String(publicPort)) add(`${id}: PUBLIC_PORT differs from the public port ${publicPort}`);
      } else if (port(PUBLIC) !== undefined) {
        add(`${id}: only ${Object.keys(PUBLIC_PORTS).join(" and ")} have a public port (shared/catalog/ports.ts)`);
      }
      for (const kind of ["startupProbe", "readinessProbe", "livenessProbe"] as const) {
        const get = container[kind]?.httpGet;
        if (get?.path !== "/healthz" || get.port !== probePort) add(`${id}: ${kind} must GET /healthz on port "${probePort}"`);
      }
      for (const [name, secret] of [
        ["APP_API_TOKEN", appTokenSecretOf(service)],
        ["DAPR_API_TOKEN", daprApiTokenSecretOf(service)],
      ] as const) {
        const ref = env.get(name)?.valueFrom?.secretKeyRef;
        if (ref?.name !== secret || ref.key !== DAPR_TOKEN_SECRET_KEY) {
          add(`${id}: env ${name} must come from Secret ${secret}, key ${DAPR_TOKEN_SECRET_KEY} (the one its sidecar reads)`);
        }
      }
      if (!container.resources?.requests || !container.resources.limits) add(`${id}: needs resource requests and limits`);
      const sc = container.securityContext;
      if (sc?.readOnlyRootFilesystem !== true || sc.allowPrivilegeEscalation !== false || !sc.capabilities?.drop?.includes("ALL")) {
        add(`${id}: container must set readOnlyRootFilesystem, no privilege escalation and drop ALL capabilities`);
      }
      // One Dockerfile builds every image: --build-arg FUNCTION=<name> -t taskapp/<name>.
      const image = container.image ?? "";
      if (!new RegExp(`^(.+/)?taskapp/${service}(:[\\w.-]+)?$`).test(image))
        add(`${id}: image "${image}" is not taskapp/${service} (the Dockerfile's FUNCTION=${service})`);
    }

    // KEDA owns a consumer's replica count; the others are always on.
    const replicas = d.spec?.replicas;
    if ((CONSUMERS as readonly string[]).includes(service)) {
      if (replicas !== undefined) add(`${id}: sets replicas (${replicas}); KEDA owns a consumer's replica count`);
    } else if (replicas === undefined || replicas < 1) {
      add(`${id}: needs replicas ≥ 1 (always on, never scaled to zero)`);
    }

    const svc = r.named(services, service);
    if (!svc) add(`Service/${service} is missing`);
    else {
      const target = PUBLIC_PORTS[service] !== undefined ? PUBLIC : APP;
      const targets = (svc.spec?.ports ?? []).map((p) => String(p.targetPort));
      if (!sameSet(targets, [target])) add(`Service/${service}: targets ${list(targets)}, must target only port "${target}"`);
    }
  }

  // Credentials: never literal; each function's own (no Secret shared by two functions).
  const readers = new Map<string, Set<string>>();
  for (const d of deployments) {
    for (const c of d.spec?.template?.spec?.containers ?? []) {
      for (const e of c.env ?? []) {
        if (SECRET_NAME.test(e.name) && e.value !== undefined) {
          add(`Deployment/${d.metadata.name}: env ${e.name} is a literal value; take it from a Secret (secretKeyRef)`);
        }
        const secret = e.valueFrom?.secretKeyRef?.name;
        if (secret) readers.set(secret, (readers.get(secret) ?? new Set()).add(d.metadata.name));
      }
    }
  }
  for (const [secret, names] of readers) {
    if (names.size > 1) add(`Secret ${secret} is read by ${list([...names].sort())}: each function has its own credentials`);
  }

  problems.push(...checkRbac(r, context));
  return problems;
};

/** Roles only for the functions that read the API server, read-only, covering what they read. */
const checkRbac = (r: Rendered, context: CheckContext): string[] => {
  const problems: string[] = [];
  const roles = r.of<Role>("Role", "rbac.authorization.k8s.io");
  const bindings = r.of<RoleBinding>("RoleBinding", "rbac.authorization.k8s.io");
  for (const kind of ["ClusterRole", "ClusterRoleBinding"]) {
    for (const o of r.of(kind, "rbac.authorization.k8s.io")) problems.push(`${kind}/${o.metadata.name}: the functions get no cluster-wide rights`);
  }
  const grantedTo = new Map<string, Role[]>();
  for (const b of bindings) {
    const role = b.roleRef?.kind === "Role" ? r.named(roles, b.roleRef.name ?? "") : undefined;
    if (!role) problems.push(`RoleBinding/${b.metadata.name}: roleRef names no Role of the namespace`);
    for (const s of b.subjects ?? []) {
      if (s.kind !== "ServiceAccount")
        problems.push(`RoleBinding/${b.metadata.name}: binds ${s.kind ?? ""}/${s.name ?? ""}; only the functions' service accounts`);
      else if (role) grantedTo.set(s.name ?? "", [...(grantedTo.get(s.name ?? "") ?? []), role]);
    }
  }
  for (const [account, granted] of grantedTo) {
    const reads = KUBE_API_READS[account as ServiceName];
    if (!reads) {
      problems.push(`ServiceAccount/${account}: bound to ${list(granted.map((g) => `Role/${g.metadata.name}`))}, but it reads nothing from the API server`);
      continue;
    }
    for (const role of granted) {
      for (const rule of role.rules ?? []) {
        const extra = (rule.verbs ?? []).filter((v) => !READ_VERBS.includes(v));
        if (extra.length > 0) problems.push(`Role/${role.metadata.name}: grants ${list(extra)}; ${account} only reads`);
        for (const resource of rule.resources ?? []) {
          if (!reads.some((read) => read.resource === resource && (rule.apiGroups ?? []).includes(read.group))) {
            problems.push(`Role/${role.metadata.name}: grants ${resource}, which ${account} does not read`);
          }
        }
      }
    }
  }
  for (const service of context.deployed) {
    for (const read of KUBE_API_READS[service] ?? []) {
      const covered = (grantedTo.get(service) ?? []).some((role) =>
        (role.rules ?? []).some(
          (rule) =>
            (rule.apiGroups ?? []).includes(read.group) &&
            (rule.resources ?? []).includes(read.resource) &&
            READ_VERBS.every((v) => (rule.verbs ?? []).includes(v)),
        ),
      );
      if (!covered) problems.push(`ServiceAccount/${service}: may not get, list and watch ${read.group}/${read.resource}, which it reads`);
    }
  }
  return problems;
};
