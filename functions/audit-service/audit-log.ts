/**
 * The audit trail in Cosmos DB: container AUDIT_CONTAINER, partitioned by task
 * id, one document per event. One container client per process.
 *
 * Entries appended while a write is in flight go together in the next one
 * (Cosmos DB bulk): a delivered batch of events costs one request, not one per event.
 */
import type { Database } from "@azure/cosmos";
import { AUDIT_CONTAINER, AUDIT_ORDER_FIELD, auditOrderOf } from "../../shared/catalog/audit.ts";
import { BulkItems, openContainer } from "../../shared/cosmos.ts";
import type { AuditEntry } from "../../shared/catalog/audit.ts";

export interface AuditLog {
  /** Adds the entry; false when an entry with its id was already there (a redelivery). */
  append(entry: AuditEntry): Promise<boolean>;
}

export class CosmosAuditLog implements AuditLog {
  private constructor(private readonly items: BulkItems) {}

  /** Opens the audit container, creating it if missing. */
  static async open(database: Database): Promise<CosmosAuditLog> {
    return new CosmosAuditLog(new BulkItems(await openContainer(database, AUDIT_CONTAINER)));
  }

  async append(entry: AuditEntry): Promise<boolean> {
    // 409: an entry with this id is in the task's partition already. Other failures throw: the host retries.
    const { status } = await this.items.create({ ...entry, [AUDIT_ORDER_FIELD]: auditOrderOf(entry) }, entry.taskId);
    return status !== 409;
  }
}
