/**
 * The audit trail in Cosmos DB: container AUDIT_CONTAINER, partitioned by task
 * id, one document per event. One container client per process.
 *
 * Entries appended while a write is in flight go together in the next one
 * (Cosmos DB bulk): a delivered batch of events costs one request, not one per event.
 */
import { BulkOperationType, type Container, type Database, type JSONObject } from "@azure/cosmos";
import { Coalescer, type Outcome } from "../../shared/coalesce.ts";
import { AUDIT_CONTAINER, openContainer } from "../../shared/cosmos.ts";
import type { AuditEntry } from "./entry.ts";

export interface AuditLog {
  /** Adds the entry; false when an entry with its id was already there (a redelivery). */
  append(entry: AuditEntry): Promise<boolean>;
}

/** Operations per Cosmos DB bulk request at most (the service's limit). */
const BULK_LIMIT = 100;

export class CosmosAuditLog implements AuditLog {
  private readonly writes: Coalescer<AuditEntry, boolean>;

  private constructor(private readonly container: Container) {
    this.writes = new Coalescer((entries) => this.createAll(entries), { maxBatch: BULK_LIMIT, maxInFlight: 4 });
  }

  /** Opens the audit container, creating it if missing. */
  static async open(database: Database): Promise<CosmosAuditLog> {
    return new CosmosAuditLog(await openContainer(database, AUDIT_CONTAINER));
  }

  append(entry: AuditEntry): Promise<boolean> {
    return this.writes.submit(entry);
  }

  /**
   * One bulk request for the entries. `items.bulk` sends at once; its successor
   * `executeBulkOperations` waits a second for a batch to fill, which would add
   * that second to every audit entry.
   */
  private async createAll(entries: AuditEntry[]): Promise<Outcome<boolean>[]> {
    const responses = await this.container.items.bulk(
      entries.map((entry) => ({ operationType: BulkOperationType.Create, partitionKey: entry.taskId, resourceBody: entry as unknown as JSONObject })),
      { continueOnError: true },
    );
    return entries.map((entry, i): Outcome<boolean> => {
      const status = responses[i]?.statusCode ?? 0;
      if (status >= 200 && status < 300) return { ok: true, value: true };
      // 409: an entry with this id is in the task's partition already. Anything else fails the entry: the host retries it.
      if (status === 409) return { ok: true, value: false };
      return { ok: false, error: new Error(`audit entry ${entry.id}: Cosmos DB answered ${status}`) };
    });
  }
}
