import { Service } from "../../shared/catalog/names.ts";
import { BULK_DELIVERY_RELAXED, defineFunctionOf } from "../../shared/host/define.ts";
import type { AuditLog } from "./audit-log.ts";
import { onAnyEvent } from "./on-any-event.ts";

/**
 * audit-service: every event of every topic, one entry each in the audit
 * trail. Bulk delivery: a batch's entries are written concurrently across
 * tasks (in order within a task).
 */
export const auditService = defineFunctionOf(Service.AuditService, (deps: { entries: AuditLog }) => ({
  consumers: onAnyEvent(deps),
  bulk: BULK_DELIVERY_RELAXED,
}));
