/**
 * The audit entry: one document per event in the audit container (Cosmos DB,
 * partitioned by task id), written by audit-service and read by task-api's
 * GET /tasks/:id/history. Its id is the event's id, so a redelivered event
 * finds its entry already there.
 */
import { z } from "zod";
import { Instant } from "./task.ts";

/** task.updated: the changed fields, `{ field: { from?, to? } }`; any other event: the few facts it is about. */
export const AuditChange = z.record(z.string(), z.unknown());
export type AuditChange = z.infer<typeof AuditChange>;

export const AuditEntry = z.object({
  /** The CloudEvent id: one entry per event, whatever the redeliveries. */
  id: z.string().min(1),
  taskId: z.string().min(1),
  userId: z.string().min(1),
  /** The CloudEvent type, e.g. task.created.v1. */
  type: z.string().min(1),
  /** The producing service. */
  source: z.string().min(1),
  /** The topic the event travelled on. */
  topic: z.string().min(1),
  /** When it happened: the event's time, in UTC with milliseconds (sortable as text). */
  time: Instant,
  /**
   * Tie-breaker among events of one task with the same time: one task write
   * emits its events within the same millisecond, in this order.
   */
  rank: z.number().int().min(0),
  correlationId: z.string().min(1),
  causationId: z.string().min(1).optional(),
  change: AuditChange,
  /** When this entry was written. */
  recordedAt: Instant,
});
export type AuditEntry = z.infer<typeof AuditEntry>;

