/**
 * Schema validation of rendered objects: built-in kinds against the Kubernetes OpenAPI schemas
 * (kubernetes-models), custom resources against the CRDs of KEDA, Dapr and Strimzi.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { Ajv, type AnySchema, type ErrorObject, type ValidateFunction } from "ajv";
import ajvFormats from "ajv-formats";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { repoRoot } from "../stack/paths.ts";
import { readYamlDocuments, type K8sObject } from "./render.ts";

/** Where the CRDs are: ../shared/crds next to the clone, or CRDS_DIR. */
export const crdsDir = (): string => process.env["CRDS_DIR"] ?? resolve(repoRoot, "../shared/crds");

/** A built-in kind's model: its constructor validates with the Kubernetes OpenAPI schema. */
type BuiltInModel = new (data: never) => { validate(): void };

/** Built-in kinds these manifests may use; anything else needs adding here (and a reason). */
const BUILT_IN: Readonly<Record<string, BuiltInModel>> = {
  "v1/Namespace": Namespace,
  "v1/Service": Service,
  "v1/ConfigMap": ConfigMap,
  "v1/Secret": Secret,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "apps/v1/Deployment": Deployment,
  "policy/v1/PodDisruptionBudget": PodDisruptionBudget,
};

const KUBERNETES_KEYWORDS = [
  "x-kubernetes-embedded-resource",
  "x-kubernetes-int-or-string",
  "x-kubernetes-list-map-keys",
  "x-kubernetes-list-type",
  "x-kubernetes-map-type",
  "x-kubernetes-preserve-unknown-fields",
  "x-kubernetes-validations",
];

type JsonSchema = { [keyword: string]: unknown };

const isSchema = (value: unknown): value is JsonSchema => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * The API server prunes (and `kubectl apply`, validating strictly by default, rejects) fields a
 * structural schema does not declare. ajv allows them unless told: close every object schema
 * that lists properties and does not preserve unknown fields.
 */
const closeObjects = (schema: JsonSchema): JsonSchema => {
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === "properties" && isSchema(value)) {
      out[key] = Object.fromEntries(Object.entries(value).map(([name, sub]) => [name, isSchema(sub) ? closeObjects(sub) : sub]));
    } else if ((key === "items" || key === "additionalProperties" || key === "not") && isSchema(value)) {
      out[key] = closeObjects(value);
    } else if ((key === "allOf" || key === "anyOf" || key === "oneOf") && Array.isArray(value)) {
      out[key] = value.map((sub: unknown) => (isSchema(sub) ? closeObjects(sub) : sub));
    } else {
      out[key] = value;
    }
  }
  if (isSchema(out["properties"]) && out["additionalProperties"] === undefined && out["x-kubernetes-preserve-unknown-fields"] !== true) {
    out["additionalProperties"] = false;
  }
  return out;
};

const newAjv = (): Ajv => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajvFormats.default(ajv);
  ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && Math.abs(n) <= 2 ** 31 });
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });
  for (const keyword of KUBERNETES_KEYWORDS) ajv.addKeyword(keyword);
  return ajv;
};

interface CrdView {
  kind: string;
  spec?: {
    group?: string;
    names?: { kind?: string };
    versions?: { name: string; served?: boolean; schema?: { openAPIV3Schema?: unknown } }[];
  };
}

const yamlFilesUnder = (dir: string): string[] =>
  readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return yamlFilesUnder(path);
    return /\.ya?ml$/.test(entry) ? [path] : [];
  });

/** Compiled CRD schemas keyed by `<group>/<version>/<Kind>`, served versions only. */
export type CrdValidators = Map<string, ValidateFunction>;

export const loadCrdValidators = async (dir: string = crdsDir()): Promise<CrdValidators> => {
  const files = existsSync(dir) ? yamlFilesUnder(dir) : [];
  if (files.length === 0) {
    throw new Error(
      `no CRD schemas in ${dir}: set CRDS_DIR to the folder holding the keda/, dapr/ and strimzi/ CustomResourceDefinitions ` +
        `(by default ../shared/crds next to the clone)`,
    );
  }
  const ajv = newAjv();
  const validators: CrdValidators = new Map();
  for (const doc of await readYamlDocuments(files)) {
    const crd = doc as CrdView;
    if (crd.kind !== "CustomResourceDefinition") continue;
    const group = crd.spec?.group;
    const kind = crd.spec?.names?.kind;
    for (const version of crd.spec?.versions ?? []) {
      const schema = version.schema?.openAPIV3Schema;
      if (!group || !kind || !version.served || !isSchema(schema)) continue;
      validators.set(`${group}/${version.name}/${kind}`, ajv.compile(closeObjects(schema) as AnySchema));
    }
  }
  return validators;
};

const describeError = (e: ErrorObject): string => {
  const where = e.instancePath || "/";
  if (e.keyword === "additionalProperties") return `${where}: unknown field "${String(e.params["additionalProperty"])}"`;
  if (e.keyword === "enum") return `${where}: ${e.message ?? "invalid"} (${JSON.stringify(e.params["allowedValues"])})`;
  return `${where}: ${e.message ?? e.keyword}`;
};

/** Every object against its schema; one line per problem, prefixed with Kind/name. */
export const checkSchemas = (objects: readonly K8sObject[], crds: CrdValidators): string[] => {
  const problems: string[] = [];
  for (const object of objects) {
    const id = `${object.kind}/${object.metadata.name}`;
    const builtIn = BUILT_IN[`${object.apiVersion}/${object.kind}`];
    if (builtIn) {
      try {
        new builtIn(object as never).validate();
      } catch (err) {
        problems.push(`${id}: schema: ${err instanceof Error ? err.message : String(err)}`);
      }
      continue;
    }
    const validate = crds.get(`${object.apiVersion}/${object.kind}`);
    if (!validate) {
      problems.push(`${id}: no schema for ${object.apiVersion} ${object.kind} (not a served CRD version in ${crdsDir()}, nor a known built-in kind)`);
      continue;
    }
    if (!validate(object)) for (const e of validate.errors ?? []) problems.push(`${id}: schema: ${describeError(e)}`);
  }
  return problems;
};
