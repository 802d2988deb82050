/**
 * The Kubernetes control plane the project runs locally, built like daprd: pinned Go modules in
 * tools/control-plane/, built once from the Go module proxy into the cache, keyed by the hash of
 * their files.
 *
 * - tools/control-plane/kube: etcd (our main over etcd's embed package), a certificate generator,
 *   and kube-apiserver + kube-controller-manager of k8s.io/kubernetes;
 * - tools/control-plane/keda: KEDA's operator, admission webhooks and metrics adapter.
 *
 * The CustomResourceDefinitions come from the same pinned modules (KEDA's config/crd/bases, Dapr's
 * charts/dapr/crds), from the Prometheus Operator's module pinned in
 * tools/control-plane/prometheus-operator (PodMonitor, ServiceMonitor and PrometheusRule only) and from the Strimzi
 * copy in tools/manifests/crds/strimzi.
 */
import { execFile as execFileCb } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { z } from "zod";
import { repoRoot } from "./paths.ts";
import { cacheRoot, hashOfFiles, requireTool, say } from "./provision.ts";

const execFile = promisify(execFileCb);

/** kube-apiserver and kube-controller-manager; KEDA 2.21 is built on the k8s.io 0.36 libraries. */
export const KUBERNETES_VERSION = "1.36.3";
export const KEDA_VERSION = "2.21.0";

const KUBE_MODULE = join(repoRoot, "tools/control-plane/kube");
const KEDA_MODULE = join(repoRoot, "tools/control-plane/keda");
const DAPR_MODULE = join(repoRoot, "tools/dapr-build");
const STRIMZI_CRDS = join(repoRoot, "tools/manifests/crds/strimzi");
const PROMETHEUS_OPERATOR_MODULE = join(repoRoot, "tools/control-plane/prometheus-operator");
/** The Prometheus Operator CRDs the manifests use (deploy/components/prometheus-operator). */
const PROMETHEUS_OPERATOR_CRDS = [
  "monitoring.coreos.com_podmonitors.yaml",
  "monitoring.coreos.com_servicemonitors.yaml",
  "monitoring.coreos.com_prometheusrules.yaml",
];

export interface ControlPlaneBinaries {
  etcd: string;
  certs: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kedaOperator: string;
  kedaWebhooks: string;
  kedaAdapter: string;
}

export interface ControlPlaneManifests {
  /** CustomResourceDefinition files: KEDA's, Dapr's, Strimzi's and the Prometheus Operator's. */
  crds: string[];
  /** KEDA's ValidatingWebhookConfiguration, as KEDA ships it (pointed at a Service). */
  kedaWebhookConfiguration: string;
}

export type ControlPlaneBuild = ControlPlaneBinaries & ControlPlaneManifests;

interface GoBuild {
  /** The cache folder's name before its hash. */
  name: string;
  module: string;
  files: string[];
  ldflags: string;
  targets: { output: string; pkg: string }[];
}

const KUBE_LDFLAGS = ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]
  .flatMap((pkg) => {
    const [major, minor] = KUBERNETES_VERSION.split(".");
    return [`-X ${pkg}.gitVersion=v${KUBERNETES_VERSION}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minor}`];
  })
  .join(" ");

const KUBE_BUILD: GoBuild = {
  name: `kubernetes-${KUBERNETES_VERSION}`,
  module: KUBE_MODULE,
  files: ["go.mod", "go.sum", "tools.go", "etcd/main.go", "certs/main.go"],
  // Without the version, the servers report v0.0.0-master.
  ldflags: `-s -w ${KUBE_LDFLAGS}`,
  targets: [
    { output: "etcd", pkg: "./etcd" },
    { output: "certs", pkg: "./certs" },
    { output: "kube-apiserver", pkg: "k8s.io/kubernetes/cmd/kube-apiserver" },
    { output: "kube-controller-manager", pkg: "k8s.io/kubernetes/cmd/kube-controller-manager" },
  ],
};

const KEDA_BUILD: GoBuild = {
  name: `keda-${KEDA_VERSION}`,
  module: KEDA_MODULE,
  files: ["go.mod", "go.sum", "tools.go"],
  ldflags: `-s -w -X=github.com/kedacore/keda/v2/version.Version=${KEDA_VERSION}`,
  targets: [
    { output: "keda-operator", pkg: "github.com/kedacore/keda/v2/cmd/operator" },
    { output: "keda-webhooks", pkg: "github.com/kedacore/keda/v2/cmd/webhooks" },
    { output: "keda-adapter", pkg: "github.com/kedacore/keda/v2/cmd/adapter" },
  ],
};

const goTool = () => requireTool("go", "install Go 1.26+ to build the local Kubernetes control plane (kube-apiserver, etcd, KEDA)");

const goEnv = (): NodeJS.ProcessEnv => ({ ...process.env, CGO_ENABLED: "0", GOFLAGS: "", GOTOOLCHAIN: "local" });

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

const processAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Runs `work` while holding `<dir>.lock`: test files, `npm run dev` and `npm run provision` may
 * ask for the same build at once, and it should happen once. A lock whose holder died is taken over.
 */
const withLock = async <T>(dir: string, work: () => Promise<T>): Promise<T> => {
  const lock = `${dir}.lock`;
  mkdirSync(join(dir, ".."), { recursive: true });
  let told = false;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, "pid"), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const holder = Number(readFileSync(join(lock, "pid"), { encoding: "utf8", flag: "a+" }) || "0");
      if (holder > 0 && !processAlive(holder)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (!told) say(`waiting for the build in ${dir} that process ${holder || "?"} is running`);
      told = true;
      await sleep(2_000);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
};

/** Builds each target of a Go module into its cache folder, once. */
const ensureGoBuild = async (build: GoBuild): Promise<Record<string, string>> => {
  const dir = join(cacheRoot(), `${build.name}-${hashOfFiles(build.files.map((f) => join(build.module, f)))}`);
  const outputs = Object.fromEntries(build.targets.map((t) => [t.output, join(dir, t.output)]));
  if (existsSync(join(dir, ".complete"))) return outputs;
  const go = goTool();
  return withLock(dir, async () => {
    if (existsSync(join(dir, ".complete"))) return outputs;
    mkdirSync(dir, { recursive: true });
    say(`building ${build.targets.map((t) => t.output).join(", ")} from the Go module proxy into ${dir} (first run only, several minutes)`);
    const started = Date.now();
    for (const target of build.targets) {
      const began = Date.now();
      const partial = `${outputs[target.output]!}.partial`;
      await execFile(go, ["build", "-mod=readonly", "-trimpath", "-ldflags", build.ldflags, "-o", partial, target.pkg], {
        cwd: build.module,
        env: goEnv(),
        maxBuffer: 64 * 1024 * 1024,
      }).catch((err: { stderr?: string }) => {
        rmSync(partial, { force: true });
        throw new Error(`go build ${target.pkg} failed:\n${err.stderr ?? ""}`);
      });
      renameSync(partial, outputs[target.output]!);
      say(`built ${target.output} in ${seconds(began)}`);
    }
    writeFileSync(join(dir, ".complete"), new Date().toISOString());
    say(`${build.name} built in ${seconds(started)}`);
    return outputs;
  });
};

const ModuleInfo = z.object({ Dir: z.string().min(1) });

/** Where a module of `moduleDir`'s go.mod is unpacked (downloaded first if needed). */
const moduleSource = async (moduleDir: string, modulePath: string): Promise<string> => {
  const { stdout } = await execFile(goTool(), ["mod", "download", "-json", modulePath], { cwd: moduleDir, env: goEnv() }).catch(
    (err: { stdout?: string; stderr?: string }) => {
      throw new Error(`go mod download ${modulePath} failed:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
    },
  );
  return ModuleInfo.parse(JSON.parse(stdout)).Dir;
};

const yamlIn = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => join(dir, f));

/** The CRDs and KEDA's webhook configuration, copied out of the pinned modules into the cache once. */
const ensureManifests = async (): Promise<ControlPlaneManifests> => {
  const inputs = [join(KEDA_MODULE, "go.mod"), join(DAPR_MODULE, "go.mod"), join(PROMETHEUS_OPERATOR_MODULE, "go.mod"), ...yamlIn(STRIMZI_CRDS)];
  // The list of CRDs taken is part of the key: a cache filled with fewer is not reused.
  const key = createHash("sha256").update(hashOfFiles(inputs)).update(PROMETHEUS_OPERATOR_CRDS.join("\n")).digest("hex").slice(0, 12);
  const dir = join(cacheRoot(), `control-plane-crds-${key}`);
  const result = (): ControlPlaneManifests => ({
    crds: ["keda", "dapr", "strimzi", "prometheus-operator"].flatMap((group) => yamlIn(join(dir, group))),
    kedaWebhookConfiguration: join(dir, "keda-webhooks.yaml"),
  });
  if (existsSync(join(dir, ".complete"))) return result();
  return withLock(dir, async () => {
    if (existsSync(join(dir, ".complete"))) return result();
    const [keda, dapr, prometheusOperator] = await Promise.all([
      moduleSource(KEDA_MODULE, "github.com/kedacore/keda/v2"),
      moduleSource(DAPR_MODULE, "github.com/dapr/dapr"),
      moduleSource(PROMETHEUS_OPERATOR_MODULE, "github.com/prometheus-operator/prometheus-operator"),
    ]);
    rmSync(dir, { recursive: true, force: true });
    const copy = (from: string, to: string) => {
      mkdirSync(to, { recursive: true });
      for (const file of yamlIn(from)) cpSync(file, join(to, file.slice(from.length + 1)));
    };
    copy(join(keda, "config/crd/bases"), join(dir, "keda"));
    copy(join(dapr, "charts/dapr/crds"), join(dir, "dapr"));
    copy(STRIMZI_CRDS, join(dir, "strimzi"));
    mkdirSync(join(dir, "prometheus-operator"), { recursive: true });
    for (const file of PROMETHEUS_OPERATOR_CRDS) {
      cpSync(join(prometheusOperator, "example/prometheus-operator-crd", file), join(dir, "prometheus-operator", file));
    }
    cpSync(join(keda, "config/webhooks/validation_webhooks.yaml"), join(dir, "keda-webhooks.yaml"));
    writeFileSync(join(dir, ".complete"), new Date().toISOString());
    return result();
  });
};

let pending: Promise<ControlPlaneBuild> | undefined;

/**
 * The control plane's binaries and manifests, built or copied on first use and cached. The two Go
 * builds run side by side (the linker of one overlaps the compiler of the other).
 */
export const ensureControlPlane = (): Promise<ControlPlaneBuild> => {
  pending ??= (async () => {
    const [kube, keda, manifests] = await Promise.all([ensureGoBuild(KUBE_BUILD), ensureGoBuild(KEDA_BUILD), ensureManifests()]);
    return {
      etcd: kube["etcd"]!,
      certs: kube["certs"]!,
      kubeApiserver: kube["kube-apiserver"]!,
      kubeControllerManager: kube["kube-controller-manager"]!,
      kedaOperator: keda["keda-operator"]!,
      kedaWebhooks: keda["keda-webhooks"]!,
      kedaAdapter: keda["keda-adapter"]!,
      ...manifests,
    };
  })().finally(() => {
    pending = undefined;
  });
  return pending;
};
