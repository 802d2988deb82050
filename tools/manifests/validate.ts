/**
 * Renders both overlays and validates them: a real API server with KEDA's admission (server.ts),
 * then the cross-checks of checks.ts.
 */
import { join } from "node:path";
import { repoRoot } from "../stack/paths.ts";
import { crossCheck, loadCheckContext, type CheckContext } from "./checks.ts";
import { renderKustomization, type K8sObject } from "./render.ts";
import { serverProblems, type ManifestServer } from "./server.ts";

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
  server: ManifestServer;
  context: CheckContext;
}

export const loadValidator = async (server: ManifestServer): Promise<Validator> => ({ server, context: await loadCheckContext() });

/** What the API server and KEDA's webhooks refuse first, then the cross-checks. */
export const validateObjects = async (objects: readonly K8sObject[], validator: Validator): Promise<string[]> => [
  ...(await serverProblems(validator.server.api, objects)),
  ...crossCheck(objects, validator.context),
];

export const validateOverlay = async (overlay: Overlay, validator: Validator): Promise<Validation> => {
  const objects = await renderKustomization(OVERLAYS[overlay]);
  return { overlay, objects, problems: await validateObjects(objects, validator) };
};
