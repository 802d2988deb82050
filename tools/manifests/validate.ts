/**
 * Renders both overlays and validates them: schemas (Kubernetes built-ins and CRDs) and the
 * cross-checks of checks.ts.
 */
import { join } from "node:path";
import { repoRoot } from "../stack/paths.ts";
import { crossCheck, loadCheckContext, type CheckContext } from "./checks.ts";
import { renderKustomization, type K8sObject } from "./render.ts";
import { checkSchemas, loadCrdValidators, type CrdValidators } from "./schemas.ts";

export const OVERLAYS = {
  minikube: join(repoRoot, "deploy/overlays/minikube"),
  cloud: join(repoRoot, "deploy/overlays/cloud"),
} as const;
export type Overlay = keyof typeof OVERLAYS;

export interface Validation {
  overlay: Overlay;
  objects: K8sObject[];
  problems: string[];
}

/** What validating needs besides the manifests: loaded once, reused for every overlay. */
export interface Validator {
  crds: CrdValidators;
  context: CheckContext;
}

export const loadValidator = async (): Promise<Validator> => {
  const [crds, context] = await Promise.all([loadCrdValidators(), loadCheckContext()]);
  return { crds, context };
};

/** Schema problems first, then the cross-checks. */
export const validateObjects = (objects: readonly K8sObject[], validator: Validator): string[] => [
  ...checkSchemas(objects, validator.crds),
  ...crossCheck(objects, validator.context),
];

export const validateOverlay = async (overlay: Overlay, validator: Validator): Promise<Validation> => {
  const objects = await renderKustomization(OVERLAYS[overlay]);
  return { overlay, objects, problems: validateObjects(objects, validator) };
};
