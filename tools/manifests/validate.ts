/**
 * Renders every overlay (and the optional components on top of one) and validates it: a real API
 * server with KEDA's admission (server.ts), then the cross-checks of checks.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { repoRoot } from "../stack/paths.ts";
import { crossCheck, loadCheckContext, type CheckContext } from "./checks.ts";
import { renderKustomization, type K8sObject } from "./render.ts";
import { serverProblems, type ManifestServer } from "./server.ts";

/** What is validated: an overlay, with optional components added the way a user adds them. */
export interface Target {
  overlay: string;
  components?: readonly string[];
}

export const TARGETS = {
  minikube: { overlay: "deploy/overlays/minikube" },
  cloud: { overlay: "deploy/overlays/cloud" },
  redpanda: { overlay: "deploy/overlays/redpanda" },
  confluent: { overlay: "deploy/overlays/confluent" },
  "minikube+prometheus-operator": { overlay: "deploy/overlays/minikube", components: ["deploy/components/prometheus-operator"] },
  "cloud+prometheus-operator": { overlay: "deploy/overlays/cloud", components: ["deploy/components/prometheus-operator"] },
  "minikube+dead-letter-tool": { overlay: "deploy/overlays/minikube", components: ["deploy/components/dead-letter-tool"] },
  "redpanda+dead-letter-tool": { overlay: "deploy/overlays/redpanda", components: ["deploy/components/dead-letter-tool"] },
} as const satisfies Record<string, Target>;
export type TargetName = keyof typeof TARGETS;

export const describeTarget = (target: Target): string => [target.overlay, ...(target.components ?? []).map((c) => `+ ${c}`)].join(" ");

export interface Validation {
  target: TargetName;
  objects: K8sObject[];
  problems: string[];
}

/** What validating needs besides the manifests: loaded once, reused for every target. */
export interface Validator {
  server: ManifestServer;
  context: CheckContext;
}

export const loadValidator = async (server: ManifestServer): Promise<Validator> => ({ server, context: await loadCheckContext() });

/** An overlay as rendered, with components added through a kustomization of their own. */
export const renderTarget = async (target: Target): Promise<K8sObject[]> => {
  if (!target.components?.length) return renderKustomization(join(repoRoot, target.overlay));
  const dir = mkdtempSync(join(tmpdir(), "task-events-target-"));
  try {
    writeFileSync(
      join(dir, "kustomization.yaml"),
      [
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "resources:",
        `  - ${relative(dir, join(repoRoot, target.overlay))}`,
        "components:",
        ...target.components.map((c) => `  - ${relative(dir, join(repoRoot, c))}`),
        "",
      ].join("\n"),
    );
    return await renderKustomization(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

/** What the API server and KEDA's webhooks refuse first, then the cross-checks. */
export const validateObjects = async (objects: readonly K8sObject[], validator: Validator, name = "overlay"): Promise<string[]> => [
  ...(await serverProblems(validator.server.api, objects)),
  ...crossCheck(objects, validator.context, name),
];

export const validateTarget = async (name: TargetName, validator: Validator): Promise<Validation> => {
  const objects = await renderTarget(TARGETS[name]);
  return { target: name, objects, problems: await validateObjects(objects, validator, name) };
};
