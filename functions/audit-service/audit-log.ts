/**
 * The audit trail in Cosmos DB: container AUDIT_CONTAINER, partitioned by task
 * id, one document per event. One container client per process.
 *
 * Entries appended while a write is in flight go together in the next one
 * (Cosmos DB bulk): a delivered batch of events costs one request, not one per event.
 */
import type { Database } from "@azure/cosmos";
import { AUDIT_CONTAINER, AUDIT_ORDER_FIELD, auditOrderOf } from "../../shared/catalog/audit.ts";
import type { AuditEntry } from "../../shared/catalog/audit.ts";
import { BulkItems, cosmosStatusOf, isCosmosUnavailable, openContainer } from "../../shared/cosmos.ts";
import { busy } from "../../shared/host/errors.ts";

export interface AuditLog {
  /** Adds the entry; false when an entry with its id was already there (a redelivery). */
  append(entry: AuditEntry): Promise<boolean>;
}

/** Unavailable by the store's own account, or no answer with a status at all (connection refused, reset, timed out), or a 5xx. */
const storeOutOfReach = (err: unknown): boolean => {
  const status = cosmosStatusOf(err);
  return isCosmosUnavailable(err) || status === undefined || status >= 500;
};

export class CosmosAuditLog implements AuditLog {
  private constructor(private readonly items: BulkItems) {}

  /** Opens the audit container, creating it if missing. */
  static async open(database: Database): Promise<CosmosAuditLog> {
    return new CosmosAuditLog(new BulkItems(await openContainer(database, AUDIT_CONTAINER)));
  }

  async append(entry: AuditEntry): Promise<boolean> {
    // 409: an entry with this id is in the task's partition already.
    let status: number;
    try {
      ({ status } = await this.items.create({ ...entry, [AUDIT_ORDER_FIELD]: auditOrderOf(entry) }, entry.taskId));
    } catch (err) {
      // The store out of reach, stalled, throttled or failing on its side: the event waits for it
      // without spending delivery attempts (an outage must not dead-letter the trail). A refusal
      // of this entry itself (another 4xx) is retried as a failure, and dead-lettered in the end.
      if (storeOutOfReach(err)) throw busy(`the audit store is out of reach: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
      throw err;
    }
    return status !== 409;
  }
}
