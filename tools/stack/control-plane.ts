/**
 * A local Kubernetes control plane, as real processes on loopback: etcd, kube-apiserver, KEDA's
 * admission webhooks and, for autoscaling, KEDA's operator, KEDA's metrics adapter (behind the
 * API aggregation layer) and kube-controller-manager running only the HPA controller. There are
 * no nodes: tools/stack/replicas.ts plays the kubelet for the consumers' Deployments.
 *
 * Started the way controller-runtime's envtest starts its servers: generated certificates, a
 * service-account key, a token for an administrator, a kubeconfig.
 */
import { randomBytes } from "node:crypto";
import { execFile as execFileCb } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { z } from "zod";
import { KubeApi, kubeAccessFromKubeconfig, type KubeObject } from "../../shared/kubernetes.ts";
import { ensureControlPlane, type ControlPlaneBuild } from "./control-plane-build.ts";
import { freePort, httpOk, startProcess, waitUntil, type ManagedProcess } from "./process.ts";

const execFile = promisify(execFileCb);

/** Where KEDA's own objects live, as in a cluster installed from KEDA's release. */
export const KEDA_NAMESPACE = "keda";
const FIELD_MANAGER = "task-events-control-plane";
/** The names KEDA's certificates answer to in a cluster; the serving certificate carries them too. */
const KEDA_SERVICE_NAMES = [
  "keda-admission-webhooks.keda.svc",
  "keda-metrics-apiserver.keda.svc",
  "keda-operator.keda.svc",
  "keda-operator.keda.svc.cluster.local",
];
const EXTERNAL_METRICS_API = "v1beta1.external.metrics.k8s.io";

export interface ControlPlaneOptions {
  /** Holds certificates, etcd's data (started empty), the kubeconfig. */
  dir: string;
  logDir: string;
  pidDir: string;
  /**
   * `admission`: API server + KEDA's webhooks (what validating manifests needs).
   * `autoscaling`: also KEDA's operator, its metrics adapter and the HPA controller.
   */
  mode: "admission" | "autoscaling";
  /** HPA tuning for local runs: how often it syncs, how long it waits before scaling down. */
  hpa?: { syncPeriodSeconds: number; downscaleStabilizationSeconds: number };
  log?: (line: string) => void;
}

export interface ControlPlane {
  api: KubeApi;
  /** A kubeconfig for this control plane (an administrator's token). */
  kubeconfig: string;
  /** KEDA operator's Prometheus endpoint (keda_scaler_metrics_value, keda_scaler_active); autoscaling only. */
  kedaMetricsUrl: string | undefined;
  processes: ManagedProcess[];
  stop(): Promise<void>;
}

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

const writeKubeconfig = (path: string, server: string, caFile: string, token: string): void => {
  writeFileSync(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "current-context: task-events-local",
      "clusters:",
      "  - name: task-events-local",
      `    cluster: { server: "${server}", certificate-authority: "${caFile}" }`,
      "contexts:",
      "  - name: task-events-local",
      "    context: { cluster: task-events-local, user: admin }",
      "users:",
      "  - name: admin",
      `    user: { token: "${token}" }`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
};

const yamlObjects = (file: string): KubeObject[] =>
  parseAllDocuments(readFileSync(file, "utf8"))
    .map((doc) => doc.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);

const Conditions = z.object({
  status: z.object({ conditions: z.array(z.object({ type: z.string(), status: z.string() })).optional() }).optional(),
});

const hasCondition = (object: unknown, type: string): boolean =>
  Conditions.safeParse(object).data?.status?.conditions?.some((c) => c.type === type && c.status === "True") ?? false;

/** Installs the CRDs and waits until the server serves each of them. */
export const installCrds = async (api: KubeApi, files: string[]): Promise<void> => {
  const crds = files.flatMap(yamlObjects).filter((o) => o.kind === "CustomResourceDefinition");
  await Promise.all(crds.map((crd) => api.apply(crd, { fieldManager: FIELD_MANAGER })));
  await Promise.all(
    crds.map((crd) =>
      waitUntil(
        `CRD ${crd.metadata.name} to be established`,
        async () => hasCondition(await api.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`), "Established"),
        { timeoutMs: 30_000, intervalMs: 100 },
      ),
    ),
  );
};

/** KEDA's ValidatingWebhookConfiguration, pointed at the local webhook server, failing closed. */
const kedaWebhookConfiguration = (file: string, url: string, ca: string): KubeObject => {
  const [config] = yamlObjects(file);
  const Webhooks = z.object({
    webhooks: z.array(z.looseObject({ clientConfig: z.object({ service: z.object({ path: z.string() }) }) })),
  });
  const { webhooks } = Webhooks.parse(config);
  return {
    ...config!,
    // Upstream ignores an unreachable webhook (failurePolicy Ignore); a validator must not.
    webhooks: webhooks.map((w) => ({
      ...w,
      failurePolicy: "Fail",
      clientConfig: { url: `${url}${w.clientConfig.service.path}`, caBundle: Buffer.from(ca).toString("base64") },
    })),
  };
};

/**
 * Starts a control plane and resolves once it serves (CRDs installed, KEDA's webhooks admitting,
 * and in `autoscaling` mode the external metrics API available).
 */
export const startControlPlane = async (opts: ControlPlaneOptions): Promise<ControlPlane> => {
  const log = opts.log ?? (() => undefined);
  const started = Date.now();
  const build = await ensureControlPlane();
  mkdirSync(opts.dir, { recursive: true });
  const pki = join(opts.dir, "pki");
  await execFile(build.certs, [pki, ...KEDA_SERVICE_NAMES]).catch((err: { stderr?: string }) => {
    throw new Error(`generating certificates in ${pki} failed:\n${err.stderr ?? ""}`);
  });
  const ca = readFileSync(join(pki, "ca.crt"), "utf8");
  const token = randomBytes(24).toString("hex");
  const tokens = join(opts.dir, "tokens.csv");
  writeFileSync(tokens, `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });

  const processes: ManagedProcess[] = [];
  let api: KubeApi | undefined;
  const stop = async () => {
    // Clients of the API server first, etcd last.
    for (const p of [...processes].reverse()) await p.stop("SIGTERM", 5_000).catch(() => undefined);
    processes.length = 0;
    api?.close();
  };
  const run = (name: string, command: string, args: string[], env?: NodeJS.ProcessEnv): ManagedProcess => {
    const p = startProcess({ name, command, args, env, logFile: join(opts.logDir, `${name}.log`), pidDir: opts.pidDir });
    processes.push(p);
    return p;
  };

  try {
    const etcdDir = join(opts.dir, "etcd");
    rmSync(etcdDir, { recursive: true, force: true });
    const [etcdPort, etcdPeerPort, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const etcd = run("etcd", build.etcd, [
      "--data-dir",
      etcdDir,
      "--listen-client-url",
      `http://127.0.0.1:${etcdPort}`,
      "--listen-peer-url",
      `http://127.0.0.1:${etcdPeerPort}`,
    ]);
    await waitUntil("etcd", httpOk(`http://127.0.0.1:${etcdPort}/health`), { process: etcd, timeoutMs: 30_000, intervalMs: 100 });

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = run("kube-apiserver", build.kubeApiserver, [
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--tls-cert-file=${join(pki, "tls.crt")}`,
      `--tls-private-key-file=${join(pki, "tls.key")}`,
      `--client-ca-file=${join(pki, "ca.crt")}`,
      `--token-auth-file=${tokens}`,
      "--authorization-mode=RBAC",
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${join(pki, "sa.pub")}`,
      `--service-account-signing-key-file=${join(pki, "sa.key")}`,
      "--service-cluster-ip-range=10.96.0.0/24",
      // No pods are ever created, so no service-account admission (it waits for a controller we do not run).
      "--disable-admission-plugins=ServiceAccount",
      "--enable-priority-and-fairness=false",
      "--profiling=false",
      // The aggregation layer (KEDA's external metrics API): front-proxy CA and client certificate.
      `--requestheader-client-ca-file=${join(pki, "front-proxy-ca.crt")}`,
      "--requestheader-allowed-names=front-proxy-client",
      "--requestheader-username-headers=X-Remote-User",
      "--requestheader-group-headers=X-Remote-Group",
      "--requestheader-extra-headers-prefix=X-Remote-Extra-",
      `--proxy-client-cert-file=${join(pki, "front-proxy-client.crt")}`,
      `--proxy-client-key-file=${join(pki, "front-proxy-client.key")}`,
    ]);
    const kubeconfig = join(opts.dir, "kubeconfig");
    writeKubeconfig(kubeconfig, server, join(pki, "ca.crt"), token);
    api = new KubeApi(kubeAccessFromKubeconfig(kubeconfig));
    const client = api;
    await waitUntil("kube-apiserver", () => client.ready(), {
      process: apiserver,
      timeoutMs: 60_000,
      intervalMs: 100,
    });
    log(`kube-apiserver ${server} ready in ${seconds(started)}`);

    await Promise.all([
      installCrds(client, build.crds),
      client.apply({ apiVersion: "v1", kind: "Namespace", metadata: { name: KEDA_NAMESPACE } }, { fieldManager: FIELD_MANAGER }),
    ]);
    const kedaEnv: NodeJS.ProcessEnv = {
      ...process.env,
      KUBECONFIG: kubeconfig,
      POD_NAMESPACE: KEDA_NAMESPACE,
      KEDA_CLUSTER_OBJECT_NAMESPACE: KEDA_NAMESPACE,
      WATCH_NAMESPACE: "",
    };
    const [webhookPort, webhookProbePort, webhookMetricsPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const webhooks = run(
      "keda-webhooks",
      build.kedaWebhooks,
      [
        `--cert-dir=${pki}`,
        `--port=${webhookPort}`,
        `--metrics-bind-address=127.0.0.1:${webhookMetricsPort}`,
        `--health-probe-bind-address=127.0.0.1:${webhookProbePort}`,
        "--zap-log-level=info",
      ],
      kedaEnv,
    );
    await waitUntil("KEDA admission webhooks", httpOk(`http://127.0.0.1:${webhookProbePort}/readyz`), { process: webhooks, timeoutMs: 60_000 });
    await client.apply(kedaWebhookConfiguration(build.kedaWebhookConfiguration, `https://127.0.0.1:${webhookPort}`, ca), {
      fieldManager: FIELD_MANAGER,
    });

    let kedaMetricsUrl: string | undefined;
    if (opts.mode === "autoscaling") {
      kedaMetricsUrl = await startAutoscaling(client, build, { opts, pki, kubeconfig, kedaEnv, run });
    }
    log(`control plane (${opts.mode}) ready in ${seconds(started)}; kubeconfig ${kubeconfig}`);
    return { api: client, kubeconfig, kedaMetricsUrl, processes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
};

const startAutoscaling = async (
  api: KubeApi,
  build: ControlPlaneBuild,
  ctx: {
    opts: ControlPlaneOptions;
    pki: string;
    kubeconfig: string;
    kedaEnv: NodeJS.ProcessEnv;
    run: (name: string, command: string, args: string[], env?: NodeJS.ProcessEnv) => ManagedProcess;
  },
): Promise<string> => {
  const { pki, kubeconfig, kedaEnv, run } = ctx;
  const [metricsPort, probePort, grpcPort, adapterPort, adapterMetricsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const operator = run(
    "keda-operator",
    build.kedaOperator,
    [
      `--metrics-bind-address=127.0.0.1:${metricsPort}`,
      `--health-probe-bind-address=127.0.0.1:${probePort}`,
      `--metrics-service-bind-address=127.0.0.1:${grpcPort}`,
      `--cert-dir=${pki}`,
      // Certificates are ours; nothing in this control plane should be patched by KEDA.
      "--enable-cert-rotation=false",
      "--enable-webhook-patching=false",
      "--enable-apiservice-patching=false",
      "--leader-elect=false",
      "--zap-log-level=info",
      // Its decisions to the millisecond (the scale-from-zero bench reads them).
      "--zap-time-encoding=rfc3339nano",
    ],
    kedaEnv,
  );
  await waitUntil("KEDA operator", httpOk(`http://127.0.0.1:${probePort}/readyz`), { process: operator, timeoutMs: 60_000 });

  // The metrics adapter serves external.metrics.k8s.io through the aggregation layer. There is
  // no cluster network, so its Service is an ExternalName for loopback on the adapter's port.
  const adapter = run(
    "keda-adapter",
    build.kedaAdapter,
    [
      "--bind-address=127.0.0.1",
      `--secure-port=${adapterPort}`,
      `--cert-dir=${pki}`,
      `--tls-cert-file=${join(pki, "tls.crt")}`,
      `--tls-private-key-file=${join(pki, "tls.key")}`,
      `--client-ca-file=${join(pki, "ca.crt")}`,
      `--lister-kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      `--metrics-service-address=127.0.0.1:${grpcPort}`,
      `--port=${adapterMetricsPort}`,
      "--zap-log-level=info",
    ],
    kedaEnv,
  );
  await api.apply(
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "keda-metrics-apiserver", namespace: KEDA_NAMESPACE },
      spec: { type: "ExternalName", externalName: "localhost", ports: [{ name: "https", port: adapterPort }] },
    },
    { fieldManager: FIELD_MANAGER },
  );
  await api.apply(
    {
      apiVersion: "apiregistration.k8s.io/v1",
      kind: "APIService",
      metadata: { name: EXTERNAL_METRICS_API },
      spec: {
        service: { name: "keda-metrics-apiserver", namespace: KEDA_NAMESPACE, port: adapterPort },
        group: "external.metrics.k8s.io",
        version: "v1beta1",
        caBundle: Buffer.from(readFileSync(join(pki, "ca.crt"))).toString("base64"),
        groupPriorityMinimum: 100,
        versionPriority: 100,
      },
    },
    { fieldManager: FIELD_MANAGER },
  );
  await waitUntil(
    "KEDA's external metrics API to be available",
    async () => hasCondition(await api.get(`/apis/apiregistration.k8s.io/v1/apiservices/${EXTERNAL_METRICS_API}`), "Available"),
    { process: adapter, timeoutMs: 60_000, intervalMs: 250 },
  );

  const hpa = ctx.opts.hpa ?? { syncPeriodSeconds: 15, downscaleStabilizationSeconds: 300 };
  const controllerManager = run("kube-controller-manager", build.kubeControllerManager, [
    `--kubeconfig=${kubeconfig}`,
    `--authentication-kubeconfig=${kubeconfig}`,
    `--authorization-kubeconfig=${kubeconfig}`,
    // Only the HPA: there are no nodes, pods or ReplicaSets; the local runner plays the kubelet.
    "--controllers=horizontalpodautoscaling",
    "--leader-elect=false",
    "--bind-address=127.0.0.1",
    "--secure-port=0",
    `--horizontal-pod-autoscaler-sync-period=${hpa.syncPeriodSeconds}s`,
    `--horizontal-pod-autoscaler-downscale-stabilization=${hpa.downscaleStabilizationSeconds}s`,
  ]);
  await waitUntil(
    "kube-controller-manager's HPA controller",
    async () => existsSync(controllerManager.logFile) && readFileSync(controllerManager.logFile, "utf8").includes("Starting HPA controller"),
    { process: controllerManager, timeoutMs: 60_000 },
  );
  return `http://127.0.0.1:${metricsPort}/metrics`;
};

/** The kubeconfig `npm run dev -- --autoscale` writes, for tools that reuse its control plane. */
export const devControlPlaneDir = (dataDir: string): string => join(dataDir, "control-plane");

/** A running control plane's kubeconfig in `dir`, if its API server answers. */
export const findRunningControlPlane = async (dir: string): Promise<KubeApi | undefined> => {
  const kubeconfig = join(dir, "kubeconfig");
  if (!existsSync(kubeconfig)) return undefined;
  const api = new KubeApi(kubeAccessFromKubeconfig(kubeconfig));
  if (await api.ready().catch(() => false)) return api;
  api.close();
  return undefined;
};
