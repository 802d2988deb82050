/**
 * Cross-checks of the NetworkPolicies: every function admits only who must reach it. Ingress
 * rules only (egress is not limited): Prometheus to the metrics ports; for task-api, the Ingress
 * controller to the public port and its service-invocation callers' sidecars to daprd's internal
 * gRPC port. A function's own sidecar reaches it over localhost, which no policy governs.
 */
import { Service, type ServiceName } from "../../../shared/catalog/names.ts";
import { list, NAME_LABEL, sameSet, type CheckContext, type NetworkPolicy, type NetworkPolicyPeer, type Rendered } from "./model.ts";

/** Who the policies name, by their pods' labels (docs/deploy.md says how to match another setup). */
export const PROMETHEUS_POD = { [NAME_LABEL]: "prometheus" } as const;
export const INGRESS_CONTROLLER = { namespace: "ingress-nginx", pod: { [NAME_LABEL]: "ingress-nginx" } } as const;

type Peer = { kind: "prometheus" } | { kind: "ingress-controller" } | { kind: "apps"; apps: string[] } | { kind: "other"; text: string };

const labelsEqual = (a: Record<string, string> | undefined, b: Record<string, string>): boolean =>
  a !== undefined && Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);

/** What a `from` entry admits, in the terms of these checks. */
const peerOf = (peer: NetworkPolicyPeer): Peer => {
  const pods = peer.podSelector;
  const namespaces = peer.namespaceSelector;
  const text = JSON.stringify(peer);
  if (peer.ipBlock || !pods) return { kind: "other", text };
  if (labelsEqual(pods.matchLabels, PROMETHEUS_POD) && !pods.matchExpressions && namespaces && !namespaces.matchLabels && !namespaces.matchExpressions) {
    return { kind: "prometheus" };
  }
  if (
    labelsEqual(pods.matchLabels, INGRESS_CONTROLLER.pod) &&
    labelsEqual(namespaces?.matchLabels, { "kubernetes.io/metadata.name": INGRESS_CONTROLLER.namespace })
  ) {
    return { kind: "ingress-controller" };
  }
  // Pods of this namespace by app name.
  if (!namespaces) {
    const expressions = pods.matchExpressions ?? [];
    const fromLabels = pods.matchLabels?.[NAME_LABEL];
    if (expressions.length === 0 && fromLabels && Object.keys(pods.matchLabels ?? {}).length === 1) return { kind: "apps", apps: [fromLabels] };
    const [only] = expressions;
    if (expressions.length === 1 && !pods.matchLabels && only?.key === NAME_LABEL && only.operator === "In") return { kind: "apps", apps: only.values ?? [] };
  }
  return { kind: "other", text };
};

/** The ports each kind of caller may reach on a function's pod (named container ports). */
const allowedPorts = (service: ServiceName, peer: Peer, context: CheckContext): string[] => {
  switch (peer.kind) {
    case "prometheus":
      return ["app", "dapr-metrics"];
    case "ingress-controller":
      return service === Service.TaskApi ? ["public"] : [];
    case "apps":
      return service === Service.TaskApi && peer.apps.every((a) => context.taskApiCallers.includes(a as ServiceName)) ? ["dapr-internal"] : [];
    case "other":
      return [];
  }
};

const describe = (peer: Peer): string => (peer.kind === "apps" ? `pods ${list(peer.apps)}` : peer.kind === "other" ? peer.text : peer.kind);

export const checkNetworkPolicies = (r: Rendered, context: CheckContext): string[] => {
  const problems: string[] = [];
  const add = (line: string) => problems.push(line);
  const policies = r.of<NetworkPolicy>("NetworkPolicy", "networking.k8s.io");

  for (const service of context.deployed) {
    const mine = policies.filter((p) => p.spec?.podSelector?.matchLabels?.[NAME_LABEL] === service);
    if (mine.length === 0) {
      add(`NetworkPolicy for ${service} is missing (it would admit anyone)`);
      continue;
    }
    const reached = new Map<string, Set<string>>();
    for (const p of mine) {
      const id = `NetworkPolicy/${p.metadata.name}`;
      if (!(p.spec?.policyTypes ?? []).includes("Ingress")) add(`${id}: policyTypes must include Ingress`);
      (p.spec?.ingress ?? []).forEach((rule, i) => {
        const ports = (rule.ports ?? []).map((port) => String(port.port ?? ""));
        if (!rule.from || rule.from.length === 0) add(`${id}: rule ${i} admits every source`);
        if (ports.length === 0 || ports.includes("")) add(`${id}: rule ${i} admits every port`);
        for (const from of rule.from ?? []) {
          const peer = peerOf(from);
          const allowed = allowedPorts(service, peer, context);
          const denied = ports.filter((port) => !allowed.includes(port));
          if (denied.length > 0) add(`${id}: rule ${i} lets ${describe(peer)} reach ${list(denied)} of ${service}`);
          const key = peer.kind === "apps" ? "apps" : peer.kind;
          const seen = reached.get(key) ?? new Set<string>();
          for (const port of ports) seen.add(port);
          if (peer.kind === "apps") for (const app of peer.apps) seen.add(`app:${app}`);
          reached.set(key, seen);
        }
      });
    }
    // And what must get through.
    const has = (kind: string, port: string) => reached.get(kind)?.has(port) ?? false;
    if (!has("prometheus", "app") || !has("prometheus", "dapr-metrics")) add(`NetworkPolicy for ${service}: Prometheus must reach ports app and dapr-metrics`);
    if (service === Service.TaskApi) {
      if (!has("ingress-controller", "public")) add(`NetworkPolicy for ${service}: the Ingress controller must reach port public`);
      const callers = [...(reached.get("apps") ?? [])].filter((x) => x.startsWith("app:")).map((x) => x.slice(4));
      if (!has("apps", "dapr-internal") || !sameSet(callers, context.taskApiCallers)) {
        add(
          `NetworkPolicy for ${service}: daprd's internal port must admit exactly the sidecars of ${list(context.taskApiCallers)} (it admits ${list(callers)})`,
        );
      }
    }
  }
  return problems;
};
