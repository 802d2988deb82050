/**
 * The traffic of a load run: a mixed write load from many users against
 * task-api's public API, and the two ways to drive it.
 *
 *   open loop    a fixed arrival rate, whatever the answers: shows what users
 *                see when more arrive than the system takes (latency, refusals),
 *                and how far the sent rate fell short of the offered one
 *   closed loop  N clients, each sending its next write when the last one was
 *                answered: finds the rate the system sustains
 *
 * Every write is recorded with its answer; the tasks it created or changed
 * are what the reconciliation expects effects for.
 */
import { randomUUID } from "node:crypto";
import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { routePath, TaskApiRoute } from "../../shared/catalog/routes.ts";

export type WriteKind = "create" | "update" | "complete";

export interface WriteRecord {
  kind: WriteKind;
  user: string;
  taskId?: string;
  /** HTTP status; 0 when no answer came (connection refused, time-out). */
  status: number;
  /** The Retry-After a refusal came with. */
  retryAfter?: string;
  latencyMs: number;
  ackAt: number;
  /** Warm-up writes count for the effects, not for the figures. */
  measured: boolean;
}

/** A task the load created, and what its acknowledged writes owe. */
export interface LoadTask {
  id: string;
  user: string;
  recurring: boolean;
  /** When its reminder comes due (ms since the epoch), if it has one. */
  reminderAt?: number;
  completed: boolean;
  /** Acknowledged updates. */
  updates: number;
  /** Writes to it that got no answer: they may or may not have happened. */
  uncertain: number;
}

/** The driver's HTTP client: plain node:http over keep-alive connections, so the driver spends little of the machine it measures. */
const agent = new Agent({ keepAlive: true, maxSockets: 4_096 });
const httpCall = (
  base: string,
  method: string,
  path: string,
  opts: { headers: Record<string, string>; body?: string; timeoutMs: number },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> =>
  new Promise((resolve, reject) => {
    const url = new URL(path, base);
    const headers: Record<string, string | number> = {
      ...opts.headers,
      ...(opts.body !== undefined ? { "content-length": Buffer.byteLength(opts.body) } : {}),
    };
    const req = request({ host: url.hostname, port: url.port, method, path: url.pathname + url.search, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.setTimeout(opts.timeoutMs, () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(opts.body);
  });

const parseJson = (text: string): unknown => {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
};

export const isAcknowledged = (status: number): boolean => status >= 200 && status < 300;
/** An answer the client can act on: refused for now, try again later. */
export const isRefusal = (status: number): boolean => status === 429 || status === 503;

/** The mixed load: 55 % creates (a fifth with a reminder, some recurring daily), 25 % updates, 20 % completions. */
export class TaskTraffic {
  readonly writes: WriteRecord[] = [];
  readonly tasks: LoadTask[] = [];
  private readonly open: LoadTask[] = [];
  measuring = false;
  inFlight = 0;

  /** task-api's base URL, asked for each write (a fault run may move the load to another copy). */
  private readonly api: () => string;

  constructor(
    api: string | (() => string),
    private readonly tokens: ReadonlyMap<string, string>,
    private readonly timeoutMs = 30_000,
  ) {
    this.api = typeof api === "string" ? () => api : api;
  }

  private get users(): string[] {
    return [...this.tokens.keys()];
  }

  /** One write of the mix; the record of its answer. */
  async one(): Promise<WriteRecord> {
    const roll = Math.random();
    if (roll < 0.55 || this.open.length < 10) return this.create();
    const index = Math.floor(Math.random() * this.open.length);
    const task = this.open[index]!;
    if (roll < 0.8) return this.update(task);
    // Out of the open list before the answer: no other write completes it twice.
    this.open[index] = this.open[this.open.length - 1]!;
    this.open.pop();
    return this.complete(task);
  }

  private async create(): Promise<WriteRecord> {
    const users = this.users;
    const user = users[Math.floor(Math.random() * users.length)]!;
    const withReminder = Math.random() < 0.2;
    const recurring = !withReminder && Math.random() < 0.15;
    const reminderAt = Date.now() + 2_000 + Math.random() * 8_000;
    const body = {
      title: `load task ${randomUUID().slice(0, 8)}`,
      priority: (["low", "medium", "high"] as const)[Math.floor(Math.random() * 3)],
      tags: ["load"],
      ...(withReminder ? { reminder: { remindAt: new Date(reminderAt).toISOString() } } : {}),
      ...(recurring ? { dueAt: new Date(Date.now() + 86_400_000).toISOString(), recurrence: { frequency: "daily" } } : {}),
    };
    const { record, json } = await this.send("create", user, "POST", TaskApiRoute.Tasks, body);
    if (record.status === 201 && typeof json === "object" && json !== null && "id" in json) {
      const task: LoadTask = {
        id: String(json.id),
        user,
        recurring,
        completed: false,
        updates: 0,
        uncertain: 0,
        ...(withReminder ? { reminderAt } : {}),
      };
      this.tasks.push(task);
      this.open.push(task);
    }
    return record;
  }

  private async update(task: LoadTask): Promise<WriteRecord> {
    // Always a real change: an update that changes nothing is answered 200 and publishes nothing.
    const { record } = await this.send(
      "update",
      task.user,
      "PATCH",
      routePath(TaskApiRoute.Task, { id: task.id }),
      {
        description: `revision ${randomUUID()}`,
        progress: Math.floor(Math.random() * 101),
      },
      task.id,
    );
    if (record.status === 200) task.updates++;
    else if (record.status === 0) task.uncertain++;
    return record;
  }

  private async complete(task: LoadTask): Promise<WriteRecord> {
    const { record } = await this.send("complete", task.user, "POST", routePath(TaskApiRoute.CompleteTask, { id: task.id }), undefined, task.id);
    if (record.status === 200) task.completed = true;
    else if (record.status === 0) task.uncertain++;
    else this.open.push(task); // refused: still open
    return record;
  }

  private async send(
    kind: WriteKind,
    user: string,
    method: string,
    path: string,
    body?: unknown,
    taskId?: string,
  ): Promise<{ record: WriteRecord; json: unknown }> {
    const started = performance.now();
    const measured = this.measuring;
    let status = 0;
    let json: unknown;
    let retryAfter: string | null = null;
    this.inFlight++;
    try {
      const res = await httpCall(this.api(), method, path, {
        headers: { authorization: `Bearer ${this.tokens.get(user)}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        timeoutMs: this.timeoutMs,
      });
      status = res.status;
      retryAfter = typeof res.headers["retry-after"] === "string" ? res.headers["retry-after"] : null;
      json = parseJson(res.body);
    } catch {
      status = 0;
    } finally {
      this.inFlight--;
    }
    const id = taskId ?? (typeof json === "object" && json !== null && "id" in json ? String(json.id) : undefined);
    const record: WriteRecord = {
      kind,
      user,
      status,
      latencyMs: performance.now() - started,
      ackAt: Date.now(),
      measured,
      ...(id ? { taskId: id } : {}),
      ...(retryAfter ? { retryAfter } : {}),
    };
    this.writes.push(record);
    return { record, json };
  }
}

export interface DriveResult {
  /** Writes the schedule asked for. */
  offered: number;
  /** Writes sent (open loop: short of offered when the in-flight bound was reached). */
  sent: number;
  elapsedS: number;
}

/**
 * Open loop: `rate(t)` writes per second, sent on schedule whether or not
 * earlier ones were answered, up to `maxInFlight` outstanding (beyond that
 * the write is not sent and counts as a shortfall of the driver).
 */
export const openLoop = async (
  traffic: TaskTraffic,
  opts: { rate: (tS: number) => number; durationS: number; maxInFlight: number; onTick?: (tS: number) => void },
): Promise<DriveResult> => {
  const started = Date.now();
  const pending = new Set<Promise<unknown>>();
  let offered = 0;
  let sent = 0;
  let due = 0;
  let last = started;
  for (;;) {
    const now = Date.now();
    const t = (now - started) / 1000;
    if (t >= opts.durationS) break;
    opts.onTick?.(t);
    due += (opts.rate(t) * (now - last)) / 1000;
    last = now;
    while (due >= 1) {
      due--;
      offered++;
      if (traffic.inFlight >= opts.maxInFlight) continue;
      sent++;
      const p: Promise<unknown> = traffic.one().finally(() => pending.delete(p));
      pending.add(p);
    }
    await sleep(2);
  }
  await Promise.all(pending);
  return { offered, sent, elapsedS: (Date.now() - started) / 1000 };
};

/**
 * Closed loop: `clients` concurrent clients, each with one write outstanding,
 * for `durationS`. A refused write is followed by the wait its Retry-After asks for.
 */
export const closedLoop = async (traffic: TaskTraffic, opts: { clients: number; durationS: number }): Promise<DriveResult> => {
  const started = Date.now();
  const until = started + opts.durationS * 1000;
  let sent = 0;
  await Promise.all(
    Array.from({ length: opts.clients }, async () => {
      while (Date.now() < until) {
        sent++;
        const { status, retryAfter } = await traffic.one();
        if (isRefusal(status)) await sleep(Math.min(Math.max(Number(retryAfter ?? 1), 0.1), 5) * 1000);
      }
    }),
  );
  return { offered: sent, sent, elapsedS: (Date.now() - started) / 1000 };
};
