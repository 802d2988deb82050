/**
 * Cross-checks of the Dapr resources: components (scopes, topic grants, credentials, offsets),
 * the sidecar Configuration's access control and the Resiliency policy.
 */
import { PUBSUB, STATE_STORE } from "../../../shared/catalog/names.ts";
import { allowedTopics, parseScopeValue, publishingGrants, subscriptionGrants, type TopicGrants } from "../../../shared/catalog/topic-access.ts";
import {
  list,
  metaValue,
  SECRET_NAME,
  sameSet,
  type CheckContext,
  type Component,
  type Configuration,
  type Rendered,
  type Resiliency,
  type Retry,
} from "./model.ts";

const sameRetry = (a: Retry | undefined, b: Retry | undefined): boolean =>
  a !== undefined && b !== undefined && a.policy === b.policy && a.maxRetries === b.maxRetries && a.maxInterval === b.maxInterval && a.duration === b.duration;

/** A scope grant on the component against the catalog's, for the apps the component is scoped to. */
const checkGrant = (id: string, c: Component, key: string, grants: TopicGrants, add: (line: string) => void): void => {
  const value = metaValue(c, key);
  if (value === undefined) {
    add(`${id}: ${key} is missing (without it every app may use every topic)`);
    return;
  }
  const granted = parseScopeValue(value);
  for (const app of c.scopes ?? []) {
    const topics = granted.get(app);
    const expected = grants[app as keyof TopicGrants] ?? [];
    if (topics === undefined) add(`${id}: ${key} does not list ${app}, so it may use every topic (the catalog gives it ${list(expected)})`);
    else if (!sameSet(topics, expected)) add(`${id}: ${key} gives ${app} ${list(topics)}, the catalog ${list(expected)}`);
  }
  for (const app of granted.keys()) {
    if (!(c.scopes ?? []).includes(app)) add(`${id}: ${key} lists ${app}, which is not in the component's scopes`);
  }
};

export const checkDaprResources = (r: Rendered, context: CheckContext): string[] => {
  const problems: string[] = [];
  const add = (line: string) => problems.push(line);
  const components = r.of<Component>("Component", "dapr.io");

  if (!r.named(components, PUBSUB)) add(`Component/${PUBSUB} is missing`);
  if (!r.named(components, STATE_STORE)) add(`Component/${STATE_STORE} is missing`);

  for (const c of components) {
    const id = `Component/${c.metadata.name}`;
    const users = context.componentUsers[c.metadata.name];
    if (!users) {
      add(`${id}: not a component the functions use (${list(Object.keys(context.componentUsers))})`);
    } else if (!sameSet(c.scopes ?? [], users)) {
      add(`${id}: scopes ${list(c.scopes ?? [])} differ from the apps that use it ${list(users)}`);
    }
    for (const m of c.spec?.metadata ?? []) {
      if (SECRET_NAME.test(m.name) && m.value !== undefined) add(`${id}: metadata ${m.name} is a literal value; use secretKeyRef`);
    }
    // A component one function uses reads that function's own credentials.
    const [only] = c.scopes ?? [];
    if (c.scopes?.length === 1 && only) {
      for (const m of c.spec?.metadata ?? []) {
        const secret = m.secretKeyRef?.name;
        if (secret && !secret.startsWith(`${only}-`))
          add(`${id}: metadata ${m.name} reads Secret ${secret}; only ${only} uses it, so it reads ${only}'s own (${only}-…)`);
      }
    }
    if (c.spec?.type === "pubsub.kafka") {
      if (metaValue(c, "initialOffset") !== "oldest") add(`${id}: initialOffset must be "oldest" (paired with KEDA offsetResetPolicy: earliest)`);
      const group = metaValue(c, "consumerGroup");
      if (group !== undefined && group !== "{appID}") add(`${id}: consumerGroup "${group}" must be unset or {appID} (the KEDA consumerGroup is the app-id)`);
      // Who may publish and subscribe to what: exactly the catalog's producers and consumers.
      checkGrant(id, c, "publishingScopes", publishingGrants(), add);
      checkGrant(id, c, "subscriptionScopes", subscriptionGrants(), add);
      const allowed = (metaValue(c, "allowedTopics") ?? "").split(",").filter((t) => t !== "");
      if (!sameSet(allowed, allowedTopics())) add(`${id}: allowedTopics ${list(allowed)} differ from the catalog's topics ${list(allowedTopics())}`);
    }
  }

  for (const c of r.of<Configuration>("Configuration", "dapr.io")) {
    const acl = c.spec?.accessControl;
    const callers = (acl?.policies ?? []).map((p) => p.appId ?? "");
    if (acl?.defaultAction !== "deny" || !sameSet(callers, context.taskApiCallers)) {
      add(`Configuration/${c.metadata.name}: accessControl must deny by default and allow only ${list(context.taskApiCallers)} (it allows ${list(callers)})`);
    }
  }

  const resiliencies = r.of<Resiliency>("Resiliency", "dapr.io");
  if (resiliencies.length === 0) add("Resiliency is missing");
  for (const res of resiliencies) {
    const id = `Resiliency/${res.metadata.name}`;
    const retries = res.spec?.policies?.retries ?? {};
    const breakers = res.spec?.policies?.circuitBreakers ?? {};
    const target = res.spec?.targets?.components?.[PUBSUB];
    for (const direction of ["inbound", "outbound"] as const) {
      const ref = target?.[direction];
      const retry = ref?.retry ? retries[ref.retry] : undefined;
      if (!retry || retry.maxRetries === undefined || retry.maxRetries < 0) add(`${id}: ${PUBSUB} ${direction} needs a bounded retry (maxRetries ≥ 0)`);
      if (!ref?.circuitBreaker || !breakers[ref.circuitBreaker]) add(`${id}: ${PUBSUB} ${direction} needs a circuit breaker`);
      const local = ref?.retry ? context.localRetries[ref.retry] : undefined;
      if (ref?.retry && !sameRetry(local, retry)) add(`${id}: retry policy ${ref.retry} differs from dapr/local/resources/resiliency.yaml`);
    }
  }
  return problems;
};
