import type { EventData } from "../../shared/catalog/cloudevent.ts";
import { ALL_EVENTS, type AnyEvent } from "../../shared/catalog/events.ts";
import { defineConsumer, type Consumer } from "../../shared/host/define.ts";
import type { AuditLog } from "./audit-log.ts";
import type { AuditChange } from "../../shared/catalog/audit.ts";
import { entryOf, summaries } from "./entry.ts";

/** Every event of a task, whatever its topic, becomes one entry of the task's audit trail. */
const recordInAuditTrail = <E extends AnyEvent>(def: E, summarize: (data: EventData<E>) => AuditChange, deps: { entries: AuditLog }): Consumer<E> =>
  defineConsumer({
    event: def,
    async handle(event, { log, now }) {
      const entry = entryOf(def, event, summarize(event.data), now());
      if (!(await deps.entries.append(entry))) log.info({ taskId: entry.taskId }, "already in the audit trail");
    },
  });

/** One consumer per event of the catalog, all recording the event the same way. */
export const onAnyEvent = (deps: { entries: AuditLog }): Consumer[] =>
  ALL_EVENTS.map((def) =>
    // `summaries` has one entry per type; indexing it with a union of types loses the pairing, restored here.
    recordInAuditTrail(def, summaries[def.type] as (data: EventData<typeof def>) => AuditChange, deps),
  );
