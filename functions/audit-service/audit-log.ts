/**
 * The audit trail in Cosmos DB: container AUDIT_CONTAINER, partitioned by task
 * id, one document per event. One container client per process.
 */
import type { Container, Database } from "@azure/cosmos";
import { AUDIT_CONTAINER, cosmosStatusOf, openContainer } from "../../shared/cosmos.ts";
import type { AuditEntry } from "./entry.ts";

export interface AuditLog {
  /** Adds the entry; false when an entry with its id was already there (a redelivery). */
  append(entry: AuditEntry): Promise<boolean>;
}

export class CosmosAuditLog implements AuditLog {
  private constructor(private readonly container: Container) {}

  /** Opens the audit container, creating it if missing. */
  static async open(database: Database): Promise<CosmosAuditLog> {
    return new CosmosAuditLog(await openContainer(database, AUDIT_CONTAINER));
  }

  async append(entry: AuditEntry): Promise<boolean> {
    try {
      await this.container.items.create(entry);
      return true;
    } catch (err) {
      // 409: an entry with this id is in the task's partition already. Anything else is thrown: the host retries.
      if (cosmosStatusOf(err) === 409) return false;
      throw err;
    }
  }
}
