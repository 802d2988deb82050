/**
 * Tasks in Cosmos DB, one document per task, partitioned by user id: a user's
 * list is a single-partition query and a task's write is a single-document
 * write. The document also holds the task's pending side effects (its outbox),
 * so a task change and the events it causes commit atomically.
 */
import type { Container, ContainerRequest, Database, ItemDefinition } from "@azure/cosmos";
import type { CloudEventEnvelope } from "../../shared/catalog/cloudevent.ts";
import { TaskSnapshot } from "../../shared/catalog/task.ts";
import { AUDIT_CONTAINER, BulkItems, openContainer } from "../../shared/cosmos.ts";

/** A side effect that must happen after the write, in order, at least once. */
export type OutboxEntry =
  | { id: string; kind: "publish"; topic: string; event: CloudEventEnvelope }
  | { id: string; kind: "schedule-job"; name: string; dueTime: string; data: unknown }
  | { id: string; kind: "remove-job"; name: string };

export interface TaskDoc extends TaskSnapshot {
  /** Kept as a tombstone after DELETE until its outbox drains; reads treat it as gone. */
  deleted?: { at: string };
  /** The Idempotency-Key a create came with and the hash of its body. */
  idempotency?: { key: string; bodyHash: string };
  /** The reminder as asked for (an instant, or minutes before dueAt), to recompute remindAt when dueAt moves. */
  reminderRule?: { remindAt?: string; minutesBefore?: number };
  /** The remindAt a reminder-due event was already produced for. */
  reminderFiredFor?: string;
  outbox: OutboxEntry[];
  /**
   * Present while the outbox holds entries: the task-api replica that carries them out, until
   * when. Another replica takes the outbox over only once `until` has passed.
   */
  outboxLease?: OutboxLease;
  /** Writes so far (1 after the create): tells a newer copy of the document from an older one. */
  version?: number;
  _etag?: string;
}

export interface OutboxLease {
  owner: string;
  /** Milliseconds since the epoch. */
  until: number;
}

export const TASKS_CONTAINER: ContainerRequest = { id: "tasks", partitionKey: { paths: ["/userId"] } };

export class ConflictError extends Error {
  override readonly name = "ConflictError";
}

const INTERNAL_FIELDS = ["deleted", "idempotency", "reminderRule", "reminderFiredFor", "outbox", "outboxLease", "version"] as const;

/** Task documents this replica wrote or read last, kept to write the next change without reading first. */
const CACHED_DOCUMENTS = 10_000;

const cacheKey = (userId: string, id: string) => `${userId}\n${id}`;

export const snapshotOf = (doc: TaskDoc): TaskSnapshot => {
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (!k.startsWith("_") && !(INTERNAL_FIELDS as readonly string[]).includes(k) && v !== undefined) clean[k] = v;
  }
  return TaskSnapshot.parse(clean);
};

export class TaskStore {
  private readonly cache = new Map<string, TaskDoc>();
  /** Point reads and writes of task documents, in bulk requests when several are ready at once. */
  private readonly items: BulkItems;

  private constructor(
    private readonly tasks: Container,
    private readonly audit: Container,
  ) {
    this.items = new BulkItems(tasks);
  }

  static async open(database: Database): Promise<TaskStore> {
    return new TaskStore(await openContainer(database, TASKS_CONTAINER), await openContainer(database, AUDIT_CONTAINER));
  }

  /** The task as stored now (a point read). */
  async get(userId: string, id: string): Promise<TaskDoc | undefined> {
    const { resource } = await this.items.read<TaskDoc>(id, userId);
    if (resource) this.remember(resource);
    else this.cache.delete(cacheKey(userId, id));
    return resource;
  }

  /** Inserts a new task; a document with the same id makes it a ConflictError. */
  async create(doc: TaskDoc): Promise<TaskDoc> {
    const { status, resource } = await this.items.create({ ...doc, version: 1 }, doc.userId);
    if (status === 409) throw new ConflictError(`task ${doc.id} exists`);
    return this.remember(resource!);
  }

  /**
   * Read-modify-write with optimistic concurrency: `change` sees the current
   * document and returns the next one (or undefined to leave it). The base is
   * the copy this replica last wrote or read, checked by its ETag, so a write
   * costs one request unless another write came in between (then it reads and
   * tries again). A decision to change nothing is only taken on a fresh read.
   */
  async update(
    userId: string,
    id: string,
    change: (doc: TaskDoc) => TaskDoc | undefined,
  ): Promise<{ before: TaskDoc; after: TaskDoc } | undefined> {
    let before = this.cache.get(cacheKey(userId, id));
    let fresh = false;
    for (let attempt = 1; ; attempt++) {
      if (!before) {
        before = await this.get(userId, id);
        fresh = true;
        if (!before) return undefined;
      }
      const after = change(structuredClone(before));
      if (!after) {
        if (fresh) return { before, after: before };
        before = undefined; // the cached copy may be stale: decide again on a fresh read
        continue;
      }
      after.version = (before.version ?? 0) + 1;
      const { status, resource } = await this.items.replace(after, userId, before._etag ?? "");
      if (resource && status === 200) return { before, after: this.remember(resource) };
      if (status === 404) {
        this.cache.delete(cacheKey(userId, id));
        return undefined;
      }
      // 412: another write came in between.
      if (attempt >= 20) throw new ConflictError(`task ${id} kept changing under ${attempt} attempts to write it`);
      before = undefined;
    }
  }

  /**
   * Removes outbox entries that were carried out, renewing the lease when
   * entries remain and dropping it when none do. One conditional write on the
   * copy the relay worked from; a read-modify-write when the task changed
   * meanwhile. Undefined when the task is gone.
   */
  async removeCarriedOut(doc: TaskDoc, done: ReadonlySet<string>, lease: OutboxLease): Promise<TaskDoc | undefined> {
    const strip = (current: TaskDoc): TaskDoc => {
      current.outbox = current.outbox.filter((e) => !done.has(e.id));
      if (current.outbox.length === 0) delete current.outboxLease;
      else if (!current.outboxLease || current.outboxLease.owner === lease.owner) current.outboxLease = lease;
      return current;
    };
    const next = strip(structuredClone(doc));
    next.version = (doc.version ?? 0) + 1;
    const { status, resource } = await this.items.replace(next, doc.userId, doc._etag ?? "");
    if (resource && status === 200) return this.remember(resource);
    if (status === 404) return undefined;
    const result = await this.update(doc.userId, doc.id, (current) =>
      current.outbox.some((e) => done.has(e.id)) || current.outboxLease?.owner === lease.owner ? strip(current) : undefined,
    );
    return result?.after;
  }

  /** Every live task of a user. */
  async listOf(userId: string): Promise<TaskDoc[]> {
    const { resources } = await this.tasks.items
      .query<TaskDoc>(
        { query: "SELECT * FROM c WHERE c.userId = @userId AND NOT IS_DEFINED(c.deleted)", parameters: [{ name: "@userId", value: userId }] },
        { partitionKey: userId },
      )
      .fetchAll();
    return resources;
  }

  /**
   * Tasks whose outbox lease ran out (its replica died or stalled), oldest
   * first. A range filter on the lease's time: with the container's range
   * index it costs what the backlog holds, not what the container holds.
   */
  async withExpiredOutboxLease(now: number, limit: number): Promise<{ id: string; userId: string }[]> {
    const { resources } = await this.tasks.items
      .query<{ id: string; userId: string }>({
        query: `SELECT TOP ${Math.max(1, Math.floor(limit))} c.id, c.userId FROM c WHERE c.outboxLease.until < @now ORDER BY c.outboxLease.until`,
        parameters: [{ name: "@now", value: now }],
      })
      .fetchAll();
    return resources;
  }

  /** Tasks whose outbox lease `owner` holds (a replica restarted under the same name finds its own). */
  async withOutboxLeasedBy(owner: string, limit: number): Promise<{ id: string; userId: string }[]> {
    const { resources } = await this.tasks.items
      .query<{ id: string; userId: string }>({
        query: `SELECT TOP ${Math.max(1, Math.floor(limit))} c.id, c.userId FROM c WHERE c.outboxLease.owner = @owner`,
        parameters: [{ name: "@owner", value: owner }],
      })
      .fetchAll();
    return resources;
  }

  private remember(doc: TaskDoc): TaskDoc {
    const key = cacheKey(doc.userId, doc.id);
    this.cache.delete(key);
    this.cache.set(key, doc);
    if (this.cache.size > CACHED_DOCUMENTS) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    return doc;
  }

  /**
   * The audit trail of one task, oldest first. The events of one write can
   * share a millisecond: `rank` (their order within a write) breaks the tie,
   * here rather than in the query, where two ORDER BY fields would need a
   * composite index on the container.
   */
  async historyOf(taskId: string): Promise<ItemDefinition[]> {
    const { resources } = await this.audit.items
      .query({ query: "SELECT * FROM c WHERE c.taskId = @taskId ORDER BY c.time", parameters: [{ name: "@taskId", value: taskId }] }, { partitionKey: taskId })
      .fetchAll();
    const byTimeThenRank = (a: ItemDefinition, b: ItemDefinition) => {
      const [ta, tb] = [String(a["time"]), String(b["time"])];
      return ta < tb ? -1 : ta > tb ? 1 : Number(a["rank"] ?? 0) - Number(b["rank"] ?? 0);
    };
    return resources.sort(byTimeThenRank).map(({ _rid, _self, _etag, _attachments, _ts, ...entry }) => entry);
  }
}
