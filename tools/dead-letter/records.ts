/**
 * The pure part of the dead-letter tool: which original event a replay publishes,
 * and how lists and replays are printed. What a record says is read by the
 * catalog's parseDeadLetter (shared/catalog/dead-letter.ts), as lag-dashboard reads it.
 */
import type { z } from "zod";
import { CloudEventEnvelope } from "../../shared/catalog/cloudevent.ts";
import type { DeadLetterEntry } from "../../shared/catalog/dead-letter.ts";

const issuesOf = (error: z.ZodError): string => error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");

/** The attributes Dapr adds to an envelope when it publishes; it sets them again on a replay. */
export const DAPR_ATTRIBUTES = ["topic", "pubsubname", "traceid", "traceparent", "tracestate"] as const;

export type ReplayPlan = { ok: true; topic: string; event: CloudEventEnvelope } | { ok: false; reason: string };

/**
 * What a replay publishes for an entry: the original envelope unchanged (same id,
 * so consumers de-duplicate), minus the attributes Dapr adds itself, to the topic
 * it was delivered from.
 */
export const replayPlanOf = (entry: DeadLetterEntry): ReplayPlan => {
  if (entry.kind === "unreadable-record") return { ok: false, reason: "the dead-letter record cannot be read" };
  if (entry.topic === null) return { ok: false, reason: "the original topic is unknown" };
  const envelope = CloudEventEnvelope.safeParse(entry.event);
  if (!envelope.success) return { ok: false, reason: `the original is not a CloudEvent: ${issuesOf(envelope.error)}` };
  const event: Record<string, unknown> = { ...envelope.data };
  for (const attribute of DAPR_ATTRIBUTES) delete event[attribute];
  return { ok: true, topic: entry.topic, event: event as CloudEventEnvelope };
};

export interface ReplayItem {
  eventId: string;
  type: string;
  subject: string | null;
  topic: string;
  event: CloudEventEnvelope;
}

export interface ReplaySelection {
  replay: ReplayItem[];
  /** With `all`: entries that cannot be replayed, and why. */
  skipped: { eventId: string | null; reason: string }[];
}

export class ReplayError extends Error {
  override readonly name = "ReplayError";
}

/**
 * Picks what to replay: every replayable entry (`all`) or the entries of the
 * given event ids. An id that is not there or cannot be replayed fails the whole
 * selection, so nothing is published. An id dead-lettered more than once is
 * replayed once (its latest record).
 */
export const selectForReplay = (entries: DeadLetterEntry[], ids: string[] | "all"): ReplaySelection => {
  const latest = new Map<string, ReplayItem>();
  const skipped: ReplaySelection["skipped"] = [];
  for (const entry of entries) {
    const plan = replayPlanOf(entry);
    if (!plan.ok) {
      skipped.push({ eventId: entry.eventId, reason: plan.reason });
      continue;
    }
    const { id, type } = plan.event;
    latest.set(id, { eventId: id, type, subject: entry.subject, topic: plan.topic, event: plan.event });
  }
  if (ids === "all") return { replay: [...latest.values()], skipped };

  const problems: string[] = [];
  const picked: ReplayItem[] = [];
  for (const id of new Set(ids)) {
    const found = latest.get(id);
    if (found) {
      picked.push(found);
      continue;
    }
    const why = skipped.find((s) => s.eventId === id);
    problems.push(why ? `${id}: cannot be replayed (${why.reason})` : `${id}: not on the dead-letter topic`);
  }
  if (problems.length > 0) throw new ReplayError(`nothing replayed:\n  ${problems.join("\n  ")}`);
  return { replay: picked, skipped: [] };
};

// ---------------------------------------------------------------- output

export interface ConsumerDeadLetters {
  consumer: string;
  deadLetterTopic: string;
  entries: DeadLetterEntry[];
}

const MAX_REASON = 100;

const table = (header: string[], rows: string[][]): string[] => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
};

const shorten = (text: string, max: number): string => {
  const oneLine = text.replace(/\s+/g, " ");
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
};

/** One table per consumer: event id, type, task, kind, attempts, dead-lettered at, reason. */
export const formatList = (results: ConsumerDeadLetters[]): string => {
  const out: string[] = [];
  for (const { consumer, deadLetterTopic, entries } of results) {
    const count = entries.length === 1 ? "1 dead-lettered event" : `${entries.length} dead-lettered events`;
    out.push(`${consumer} (${deadLetterTopic}): ${entries.length === 0 ? "no dead-lettered events" : count}`);
    if (entries.length > 0) {
      const rows = entries.map((e) => [
        e.eventId ?? "-",
        e.type ?? "-",
        e.subject ?? "-",
        e.kind,
        e.attempts === null ? "-" : String(e.attempts),
        e.deadLetteredAt ?? "-",
        shorten(e.reason, MAX_REASON),
      ]);
      out.push(...table(["EVENT ID", "TYPE", "TASK", "KIND", "ATTEMPTS", "DEAD-LETTERED AT", "REASON"], rows).map((l) => `  ${l}`));
    }
    out.push("");
  }
  return out.join("\n");
};

export interface ReplayResult {
  consumer: string;
  deadLetterTopic: string;
  replayed: { eventId: string; type: string; subject: string | null; topic: string }[];
  skipped: { eventId: string | null; reason: string }[];
  /** With --all: everything read is acknowledged (dead-letter depth no longer counts it). */
  acknowledged: boolean;
}

export const formatAck = (results: { consumer: string; deadLetterTopic: string; acknowledged: number }[]): string =>
  results
    .map(
      (r) =>
        `${r.consumer} (${r.deadLetterTopic}): acknowledged ${r.acknowledged === 1 ? "1 record" : `${r.acknowledged} records`}; its dead-letter depth is 0\n`,
    )
    .join("");

export const formatReplay = (result: ReplayResult): string => {
  const out: string[] = [];
  const n = result.replayed.length;
  out.push(`${result.consumer}: replayed ${n === 1 ? "1 event" : `${n} events`} to their original topics (${result.deadLetterTopic} is unchanged)`);
  if (n > 0) {
    const rows = result.replayed.map((r) => [r.eventId, r.type, r.subject ?? "-", `-> ${r.topic}`]);
    out.push(...table(["EVENT ID", "TYPE", "TASK", "TOPIC"], rows).map((l) => `  ${l}`));
  }
  if (result.skipped.length > 0) {
    out.push(`skipped ${result.skipped.length} that cannot be replayed:`);
    for (const s of result.skipped) out.push(`  ${s.eventId ?? "-"}: ${s.reason}`);
  }
  if (result.acknowledged) out.push(`everything read from ${result.deadLetterTopic} is acknowledged (its dead-letter depth counts only what comes after)`);
  out.push("");
  return out.join("\n");
};
