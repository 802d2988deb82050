/**
 * Tasks in Cosmos DB, one document per task, partitioned by user id: a user's
 * list is a single-partition query and a task's write is a single-document
 * write. The document also holds the task's pending side effects (its outbox),
 * so a task change and the events it causes commit atomically.
 */
import type { Container, ContainerRequest, Database, ItemDefinition } from "@azure/cosmos";
import type { CloudEventEnvelope } from "../../shared/catalog/cloudevent.ts";
import { TaskSnapshot } from "../../shared/catalog/task.ts";
import { AUDIT_CONTAINER, cosmosStatusOf, openContainer } from "../../shared/cosmos.ts";

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
  /** Held by the relay that is publishing this task's outbox. */
  outboxLease?: { owner: string; until: string };
  _etag?: string;
}

export const TASKS_CONTAINER: ContainerRequest = { id: "tasks", partitionKey: { paths: ["/userId"] } };

export class ConflictError extends Error {
  override readonly name = "ConflictError";
}

const INTERNAL_FIELDS = ["deleted", "idempotency", "reminderRule", "reminderFiredFor", "outbox", "outboxLease"] as const;

export const snapshotOf = (doc: TaskDoc): TaskSnapshot => {
  const clean: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (!k.startsWith("_") && !(INTERNAL_FIELDS as readonly string[]).includes(k) && v !== undefined) clean[k] = v;
  }
  return TaskSnapshot.parse(clean);
};

export class TaskStore {
  private constructor(
    private readonly tasks: Container,
    private readonly audit: Container,
  ) {}

  static async open(database: Database): Promise<TaskStore> {
    return new TaskStore(await openContainer(database, TASKS_CONTAINER), await openContainer(database, AUDIT_CONTAINER));
  }

  async get(userId: string, id: string): Promise<TaskDoc | undefined> {
    const { resource } = await this.tasks.item(id, userId).read<TaskDoc>();
    return resource;
  }

  /** Inserts a new task; a document with the same id makes it a ConflictError. */
  async create(doc: TaskDoc): Promise<TaskDoc> {
    try {
      const { resource } = await this.tasks.items.create<TaskDoc>(doc);
      return resource as TaskDoc;
    } catch (err) {
      if (cosmosStatusOf(err) === 409) throw new ConflictError(`task ${doc.id} exists`);
      throw err;
    }
  }

  /**
   * Read-modify-write with optimistic concurrency: `change` sees the current
   * document and returns the next one (or undefined to leave it). Retried on
   * a concurrent write.
   */
  async update(
    userId: string,
    id: string,
    change: (doc: TaskDoc) => TaskDoc | undefined,
  ): Promise<{ before: TaskDoc; after: TaskDoc } | undefined> {
    for (let attempt = 1; ; attempt++) {
      const before = await this.get(userId, id);
      if (!before) return undefined;
      const after = change(structuredClone(before));
      if (!after) return { before, after: before };
      try {
        const { resource } = await this.tasks
          .item(id, userId)
          .replace<TaskDoc>(after, { accessCondition: { type: "IfMatch", condition: before._etag ?? "" } });
        return { before, after: resource as TaskDoc };
      } catch (err) {
        if (cosmosStatusOf(err) !== 412 || attempt >= 20) throw err;
      }
    }
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

  /** Tasks whose outbox still holds entries (across users), oldest write first. */
  async withPendingOutbox(limit: number): Promise<{ id: string; userId: string }[]> {
    const { resources } = await this.tasks.items
      .query<{ id: string; userId: string }>({
        query: `SELECT TOP ${Math.max(1, Math.floor(limit))} c.id, c.userId FROM c WHERE ARRAY_LENGTH(c.outbox) > 0 ORDER BY c._ts`,
      })
      .fetchAll();
    return resources;
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
