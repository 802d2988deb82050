/**
 * The audit entry: one document per event in the audit container (Cosmos DB,
 * partitioned by task id), written by audit-service and read by task-api's
 * GET /tasks/:id/history. Its id is the event's id, so a redelivered event
 * finds its entry already there.
 */
import type { ContainerRequest } from "@azure/cosmos";
import { z } from "zod";
import { Instant } from "./task.ts";

/** The audit container: partitioned by task id, so a task's trail is a single-partition query. */
export const AUDIT_CONTAINER: ContainerRequest = { id: "audit", partitionKey: { paths: ["/taskId"] } };

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
   * The event's place among the events of its write (the envelope's `writeseq`): the events of
   * one write share `time`, so a trail is in order by `time`, then `writeSeq` (auditOrderOf).
   * An entry recorded before the attribute existed reads as 0, like an event without it.
   */
  writeSeq: z.number().int().min(0).default(0),
  correlationId: z.string().min(1),
  causationId: z.string().min(1).optional(),
  change: AuditChange,
  /** When this entry was written. */
  recordedAt: Instant,
});
export type AuditEntry = z.infer<typeof AuditEntry>;

/**
 * The one field a trail is queried in order by: the time, then the place within the write, as
 * sortable text. Stored with each entry (not part of the entry read back), so a page boundary
 * never splits a write out of order, and a single-field ORDER BY needs no composite index.
 */
export const AUDIT_ORDER_FIELD = "trailOrder";
export const auditOrderOf = (entry: Pick<AuditEntry, "time" | "writeSeq">): string => `${entry.time}#${String(entry.writeSeq).padStart(6, "0")}`;
