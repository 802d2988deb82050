/**
 * Tasks in Cosmos DB, one document per task, partitioned by user id: a user's
 * list is a single-partition query and a task's write is a single-document
 * write. The document also holds the task's pending side effects (its outbox),
 * so a task change and the events it causes commit atomically.
 */
import { createHash } from "node:crypto";
import type { Container, ContainerRequest, Database, ItemDefinition, SqlQuerySpec } from "@azure/cosmos";
import { z } from "zod";
import type { CloudEventEnvelope } from "../../shared/catalog/cloudevent.ts";
import { TaskSnapshot } from "../../shared/catalog/task.ts";
import { AUDIT_CONTAINER, AUDIT_ORDER_FIELD, AuditEntry } from "../../shared/catalog/audit.ts";
import { BulkItems, cosmosStatusOf, openContainer } from "../../shared/cosmos.ts";
import type { ListTasksQuery } from "./model.ts";

/**
 * A side effect that must happen after the write, in order, at least once; `traceparent` and
 * `tracestate` are the trace of the write that owes it (W3C), which the effect continues.
 */
export type OutboxEntry = (
  | { id: string; kind: "publish"; topic: string; event: CloudEventEnvelope }
  | { id: string; kind: "schedule-job"; name: string; dueTime: string; data: unknown }
  | { id: string; kind: "remove-job"; name: string }
) & { traceparent?: string; tracestate?: string };

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
  /** What GET /tasks sorts on (sortKeysOf), written with every change. */
  sortKeys?: { due: string; priority: number };
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

const INTERNAL_FIELDS = ["deleted", "idempotency", "reminderRule", "reminderFiredFor", "outbox", "outboxLease", "version", "sortKeys"] as const;

/** Task documents this replica wrote or read last, kept to write the next change without reading first. */
const CACHED_DOCUMENTS = 10_000;

const cacheKey = (userId: string, id: string) => `${userId}\n${id}`;

/** A page of a query's results and the opaque cursor of the next page (absent on the last). */
export interface Page<T> {
  items: T[];
  next?: string;
}

/** A cursor the store did not hand out (or one it no longer reads): the client asked for something that does not exist. */
export class InvalidCursor extends Error {
  override readonly name = "InvalidCursor";
}

/**
 * One page of a single-partition query. The cursor wraps Cosmos DB's
 * continuation token with a digest of the query it belongs to (filters, sort,
 * partition), base64url-encoded to travel as a query parameter: a cursor that
 * is not one of ours, or was made for another query, is refused (400) before
 * it reaches the store. The query is bound to the partition, so no cursor
 * reaches another user's documents.
 */
const pageOf = async <T>(container: Container, spec: SqlQuerySpec, partitionKey: string, limit: number, cursor: string | undefined): Promise<Page<T>> => {
  const digest = createHash("sha256")
    .update(JSON.stringify([spec, partitionKey]))
    .digest("base64url")
    .slice(0, 16);
  let continuationToken: string | undefined;
  if (cursor !== undefined) {
    const decoded = CursorContent.safeParse(parseJson(Buffer.from(cursor, "base64url").toString("utf8")));
    if (!decoded.success || decoded.data.q !== digest) throw new InvalidCursor("not a cursor this API handed out for this query");
    continuationToken = decoded.data.c;
  }
  try {
    const response = await container.items
      .query<T>(spec, { partitionKey, maxItemCount: limit, ...(continuationToken ? { continuationToken } : {}) })
      .fetchNext();
    const next = response.continuationToken
      ? Buffer.from(JSON.stringify({ c: response.continuationToken, q: digest }), "utf8").toString("base64url")
      : undefined;
    return { items: response.resources, ...(next ? { next } : {}) };
  } catch (err) {
    if (cursor !== undefined && cosmosStatusOf(err) === 400) throw new InvalidCursor("not a cursor this API handed out for this query");
    throw err;
  }
};

const CursorContent = z.object({ c: z.string().min(1), q: z.string() });
const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** The fields tasks are sorted on, kept on each document so the store sorts them (undated tasks last). */
export const sortKeysOf = (doc: Pick<TaskDoc, "dueAt" | "priority">): TaskDoc["sortKeys"] => ({
  due: doc.dueAt ?? UNDATED,
  priority: PRIORITY_RANK[doc.priority],
});
const UNDATED = "~"; // after every ISO 8601 instant
const PRIORITY_RANK: Record<TaskSnapshot["priority"], number> = { low: 0, medium: 1, high: 2 };

/** The query behind GET /tasks: the user's live tasks, filtered, sorted by the chosen key. */
export const listQuery = (userId: string, q: ListTasksQuery): SqlQuerySpec => {
  const where = ["c.userId = @userId", "NOT IS_DEFINED(c.deleted)"];
  const parameters: { name: string; value: string | number }[] = [{ name: "@userId", value: userId }];
  if (q.status) {
    where.push("c.status = @status");
    parameters.push({ name: "@status", value: q.status });
  }
  if (q.priority) {
    where.push("c.priority = @priority");
    parameters.push({ name: "@priority", value: q.priority });
  }
  if (q.tag) {
    where.push("ARRAY_CONTAINS(c.tags, @tag)");
    parameters.push({ name: "@tag", value: q.tag });
  }
  if (q.q) {
    where.push("(CONTAINS(LOWER(c.title), @q) OR (IS_DEFINED(c.description) AND CONTAINS(LOWER(c.description), @q)))");
    parameters.push({ name: "@q", value: q.q.toLowerCase() });
  }
  const field = { createdAt: "c.createdAt", dueAt: "c.sortKeys.due", priority: "c.sortKeys.priority" }[q.sort];
  const order = (q.order ?? (q.sort === "dueAt" ? "asc" : "desc")).toUpperCase();
  return { query: `SELECT * FROM c WHERE ${where.join(" AND ")} ORDER BY ${field} ${order}`, parameters };
};

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
    const { status, resource } = await this.items.create({ ...doc, version: 1, sortKeys: sortKeysOf(doc) }, doc.userId);
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
  async update(userId: string, id: string, change: (doc: TaskDoc) => TaskDoc | undefined): Promise<{ before: TaskDoc; after: TaskDoc } | undefined> {
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
      after.sortKeys = sortKeysOf(after);
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

  /**
   * One page of a user's live tasks, filtered and sorted in the query (a
   * single-partition query), and the cursor of the next page if there is one.
   */
  async listOf(userId: string, query: ListTasksQuery): Promise<Page<TaskDoc>> {
    return pageOf(this.tasks, listQuery(userId, query), userId, query.limit, query.cursor);
  }

  /** How many live tasks the user has (a single-partition count). */
  async liveTaskCount(userId: string): Promise<number> {
    const { resources } = await this.tasks.items
      .query<number>(
        { query: "SELECT VALUE COUNT(1) FROM c WHERE c.userId = @userId AND NOT IS_DEFINED(c.deleted)", parameters: [{ name: "@userId", value: userId }] },
        { partitionKey: userId },
      )
      .fetchAll();
    return resources[0] ?? 0;
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
   * One page of a task's audit trail, oldest first, and the cursor of the
   * next page. Each entry is read with the catalog's AuditEntry schema (which
   * also drops the store's own fields). The events of one write share their
   * time: the query orders by the entry's stored order field (time, then
   * `writeSeq`, the producer's order within the write, as one sortable text),
   * so a page boundary never splits a write out of order.
   */
  async historyOf(taskId: string, page: { limit: number; cursor?: string | undefined }): Promise<Page<AuditEntry>> {
    const spec = { query: `SELECT * FROM c WHERE c.taskId = @taskId ORDER BY c.${AUDIT_ORDER_FIELD}`, parameters: [{ name: "@taskId", value: taskId }] };
    const { items, next } = await pageOf<ItemDefinition>(this.audit, spec, taskId, page.limit, page.cursor);
    return { items: items.map((item) => AuditEntry.parse(item)), ...(next ? { next } : {}) };
  }
}
