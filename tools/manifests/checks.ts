/**
 * Cross-checks of a rendered overlay: the facts that tie Kubernetes, Dapr, KEDA and Kafka
 * together and that no schema can see (docs/deploy.md lists them). One module per kind of
 * resource under checks/; this one knows what the code says and runs them all.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { COMPONENTS_USED, DEAD_LETTER_TOOL, DEPLOYED_FUNCTIONS, PUBSUB, STATE_STORE, TASK_API_CALLERS } from "../../shared/catalog/names.ts";
import { repoRoot } from "../stack/paths.ts";
import { checkDaprResources } from "./checks/dapr.ts";
import { exportedMetrics } from "./checks/exporters.ts";
import { checkJobs } from "./checks/jobs.ts";
import { checkKafkaClients, checkStrimziTopics } from "./checks/kafka.ts";
import { checkScaledObjects } from "./checks/keda.ts";
import { Rendered, type CheckContext as KindContext, type Resiliency } from "./checks/model.ts";
import { panelSourceProblems, panelSources, ruleProblems, runningExporters, type Exporter } from "./checks/monitoring.ts";
import { checkNetworkPolicies } from "./checks/network.ts";
import { checkWorkloads } from "./checks/workloads.ts";
import { readYamlDocuments, type K8sObject } from "./render.ts";

export const GRAFANA_DASHBOARD = "deploy/monitoring/taskapp-dashboard.json";

/** What the checks know from the code and the dashboard, not from the manifests. */
export interface CheckContext extends KindContext {
  /** The Grafana dashboard: every panel needs a source in every overlay. */
  dashboard: { panels: { title: string; targets?: { expr?: string }[] }[] };
  /** Which metric names each exporter serves. */
  exported: Readonly<Record<Exporter, ReadonlySet<string>>>;
}

export const loadCheckContext = async (): Promise<CheckContext> => {
  const [local] = (await readYamlDocuments([join(repoRoot, "dapr/local/resources/resiliency.yaml")])) as Resiliency[];
  return {
    deployed: DEPLOYED_FUNCTIONS,
    componentUsers: {
      // The dead-letter tool's Job (deploy/components/dead-letter-tool) reads and replays through it too.
      [PUBSUB]: [...DEPLOYED_FUNCTIONS.filter((service) => COMPONENTS_USED[service].includes(PUBSUB)), DEAD_LETTER_TOOL],
      [STATE_STORE]: DEPLOYED_FUNCTIONS.filter((service) => COMPONENTS_USED[service].includes(STATE_STORE)),
    },
    localRetries: local?.spec?.policies?.retries ?? {},
    taskApiCallers: TASK_API_CALLERS,
    dashboard: JSON.parse(readFileSync(join(repoRoot, GRAFANA_DASHBOARD), "utf8")) as CheckContext["dashboard"],
    exported: await exportedMetrics(),
  };
};

/** Where each panel's metrics come from in these objects. */
export const metricSources = (objects: readonly K8sObject[], context: CheckContext) =>
  panelSources(context.dashboard, context.exported, runningExporters(new Rendered(objects)).running);

/** Every cross-check; one line per problem, naming the object and what is wrong. */
export const crossCheck = (objects: readonly K8sObject[], context: CheckContext, overlay = "overlay"): string[] => {
  const r = new Rendered(objects);
  const problems: string[] = [];
  const monitoring = runningExporters(r);
  problems.push(
    ...checkWorkloads(r, context),
    ...checkJobs(r),
    ...checkNetworkPolicies(r, context),
    ...checkDaprResources(r, context),
    ...checkScaledObjects(r),
    ...checkStrimziTopics(r),
    ...checkKafkaClients(r),
    ...monitoring.problems,
    ...ruleProblems(r, context.exported, monitoring.running),
    ...panelSourceProblems(panelSources(context.dashboard, context.exported, monitoring.running), overlay),
  );
  return problems;
};
