/**
 * The kubelet of the local autoscaled mode: for each consumer's Deployment on the local API
 * server, it keeps `spec.replicas` copies of the function running (each with its own daprd, as
 * startFunction runs them), and writes the Deployment's status back (replicas, readyReplicas), the
 * way a Deployment controller and kubelets would. KEDA and the HPA set `spec.replicas`; this only
 * follows it.
 */
import { z } from "zod";
import type { ServiceName } from "../../shared/catalog/names.ts";
import type { KubeApi, WatchEvent } from "../../shared/kubernetes.ts";
import { startFunction, type RunningFunction } from "./functions.ts";
import type { StackInfo } from "./stack.ts";

const Deployment = z.object({
  metadata: z.object({ name: z.string(), generation: z.number().optional() }),
  spec: z.object({ replicas: z.number().int().min(0).optional() }),
});
const DeploymentList = z.object({ metadata: z.object({ resourceVersion: z.string() }), items: z.array(Deployment) });

/** What happened to a consumer's copies, with the time it happened (for the scale-from-zero bench). */
export type ReplicaEvent =
  | { kind: "desired"; service: ServiceName; replicas: number; at: number }
  | { kind: "app-ready"; service: ServiceName; instance: string; at: number }
  | { kind: "sidecar-ready"; service: ServiceName; instance: string; at: number }
  | { kind: "stopped"; service: ServiceName; instance: string; at: number };

export interface ReplicaRunnerOptions {
  api: KubeApi;
  namespace: string;
  stack: StackInfo;
  /** The Deployments this runner plays the kubelet for (the consumers). */
  services: readonly ServiceName[];
  /** Environment of each copy besides what startFunction gives every function. */
  env: (service: ServiceName) => Record<string, string>;
  onEvent?: (event: ReplicaEvent) => void;
  log?: (line: string) => void;
}

interface Copy {
  instance: string;
  /** Scaled away before it started (while held): it never starts. */
  cancelled: boolean;
  /** Resolves once the copy runs (app and sidecar healthy), or undefined when it could not start. */
  running: Promise<RunningFunction | undefined>;
  /** Set once it runs (it is then ready, as a pod whose probes pass). */
  started: RunningFunction | undefined;
}

class ServiceReplicas {
  desired = 0;
  generation = 0;
  readonly copies: Copy[] = [];
  /** While set, new copies wait (like pods Pending on a full node) until it resolves. */
  held: { released: Promise<void>; release: () => void } | undefined;
  /** Starts and stops under way, so stopping the runner can wait for them. */
  readonly inflight = new Set<Promise<unknown>>();
  private next = 1;

  constructor(
    readonly service: ServiceName,
    private readonly runner: ReplicaRunner,
  ) {}

  /**
   * Starts or stops copies until as many run as asked for; each start and stop goes on in the
   * background and writes the status when done, so a new count is acted on at once.
   */
  reconcile(): void {
    const wanted = this.runner.stopping ? 0 : this.desired;
    while (this.copies.length < wanted) {
      const copy = this.start(`${this.service}-${this.next++}`);
      this.copies.push(copy);
      this.track(copy.running.then(() => this.runner.writeStatus(this)));
    }
    // The newest copies go first, as a ReplicaSet scaling in removes the youngest pods.
    const excess = Math.max(0, this.copies.length - wanted);
    for (const copy of this.copies.splice(this.copies.length - excess, excess)) this.track(this.stop(copy));
    this.track(this.runner.writeStatus(this));
  }

  private track(work: Promise<unknown>): void {
    this.inflight.add(work);
    void work.finally(() => this.inflight.delete(work));
  }

  private start(instance: string): Copy {
    const copy: Copy = { instance, cancelled: false, started: undefined, running: Promise.resolve(undefined) };
    const held = this.held?.released ?? Promise.resolve();
    copy.running = held
      .then(() =>
        copy.cancelled || this.runner.stopping
          ? undefined
          : startFunction(this.runner.opts.stack, this.service, {
              instance,
              env: this.runner.opts.env(this.service),
              onAppReady: () => this.runner.emit({ kind: "app-ready", service: this.service, instance, at: Date.now() }),
            }),
      )
      .then(
        (running) => {
          if (!running) return undefined;
          copy.started = running;
          this.runner.emit({ kind: "sidecar-ready", service: this.service, instance, at: Date.now() });
          return running;
        },
        (err: unknown) => {
          this.runner.say(`${instance} did not start: ${err instanceof Error ? err.message : String(err)}`);
          const index = this.copies.indexOf(copy);
          if (index >= 0) this.copies.splice(index, 1);
          // As a kubelet restarts a failed pod: try again shortly.
          setTimeout(() => this.reconcile(), 2_000).unref();
          return undefined;
        },
      );
    return copy;
  }

  private async stop(copy: Copy): Promise<void> {
    copy.cancelled = true;
    const running = await copy.running;
    await running?.stop();
    this.runner.emit({ kind: "stopped", service: this.service, instance: copy.instance, at: Date.now() });
  }
}

export class ReplicaRunner {
  stopping = false;
  private readonly replicas: Map<ServiceName, ServiceReplicas>;
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(readonly opts: ReplicaRunnerOptions) {
    this.replicas = new Map(opts.services.map((s) => [s, new ServiceReplicas(s, this)]));
  }

  private get collection(): string {
    return `/apis/apps/v1/namespaces/${this.opts.namespace}/deployments`;
  }

  /** Lists the Deployments, acts on them, then follows changes until stopped. */
  async start(): Promise<void> {
    const resourceVersion = await this.list();
    this.loop = this.follow(resourceVersion);
  }

  /**
   * Copies of `service` asked for from now on wait, as pods of a node without room stay Pending:
   * KEDA and the HPA still see the lag and decide, nothing consumes it. `release` lets them start.
   */
  hold(service: ServiceName): void {
    const r = this.replicas.get(service);
    if (!r || r.held) return;
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    r.held = { released, release };
  }

  release(service: ServiceName): void {
    const r = this.replicas.get(service);
    r?.held?.release();
    if (r) r.held = undefined;
  }

  /** A consumer's copies now: how many (starting or running), how many ready, their process ids (apps and sidecars). */
  running(service: ServiceName): { replicas: number; ready: number; instances: string[]; pids: number[] } {
    const copies = this.replicas.get(service)?.copies ?? [];
    return {
      replicas: copies.length,
      ready: copies.filter((c) => c.started).length,
      instances: copies.map((c) => c.instance),
      pids: copies.flatMap((c) => (c.started ? [c.started.app.pid, c.started.sidecar.process.pid] : [])),
    };
  }

  /** Stops watching and stops every copy (sidecar first, then the app). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    for (const service of this.replicas.keys()) this.release(service);
    await this.loop?.catch(() => undefined);
    for (const r of this.replicas.values()) r.reconcile();
    await Promise.all([...this.replicas.values()].flatMap((r) => [...r.inflight]));
  }

  emit(event: ReplicaEvent): void {
    this.opts.onEvent?.(event);
  }

  say(line: string): void {
    this.opts.log?.(line);
  }

  async writeStatus(r: ServiceReplicas): Promise<void> {
    if (this.stopping) return;
    const ready = r.copies.filter((c) => c.started).length;
    await this.opts.api
      .patchStatus(`${this.collection}/${r.service}`, {
        observedGeneration: r.generation,
        replicas: r.copies.length,
        updatedReplicas: r.copies.length,
        readyReplicas: ready,
        availableReplicas: ready,
        unavailableReplicas: Math.max(0, r.copies.length - ready),
      })
      .catch((err: unknown) => this.say(`status of ${r.service} not written: ${err instanceof Error ? err.message : String(err)}`));
  }

  private observe(deployment: z.output<typeof Deployment>): void {
    const r = this.replicas.get(deployment.metadata.name as ServiceName);
    if (!r) return;
    // The API server defaults an unset count to 1, as for any Deployment.
    const desired = deployment.spec.replicas ?? 1;
    r.generation = deployment.metadata.generation ?? r.generation;
    if (desired !== r.desired) {
      this.emit({ kind: "desired", service: r.service, replicas: desired, at: Date.now() });
      this.say(`${r.service}: ${r.desired} → ${desired} replica(s)`);
    }
    r.desired = desired;
    r.reconcile();
  }

  private async list(): Promise<string> {
    const list = DeploymentList.parse(await this.opts.api.get(this.collection));
    for (const d of list.items) this.observe(d);
    return list.metadata.resourceVersion;
  }

  private async follow(from: string): Promise<void> {
    let resourceVersion = from;
    while (!this.abort.signal.aborted) {
      let expired = false;
      try {
        await this.opts.api.watch<unknown>(
          this.collection,
          resourceVersion,
          (event: WatchEvent<unknown>) => {
            // An ERROR event is the server saying the version is too old: list again.
            if (event.type === "ERROR") expired = true;
            const meta = z.object({ metadata: z.object({ resourceVersion: z.string() }) }).safeParse(event.object);
            if (meta.success) resourceVersion = meta.data.metadata.resourceVersion;
            if (event.type === "ADDED" || event.type === "MODIFIED") {
              const parsed = Deployment.safeParse(event.object);
              if (parsed.success) this.observe(parsed.data);
            }
          },
          this.abort.signal,
        );
        if (expired) resourceVersion = await this.list();
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.say(`watching Deployments failed (${err instanceof Error ? err.message : String(err)}); listing again`);
        await new Promise((r) => setTimeout(r, 500));
        resourceVersion = await this.list().catch(() => resourceVersion);
      }
    }
  }
}
