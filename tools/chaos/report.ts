/** The printed table of a fault run: one row per effect kind, then the fault's figures. */
import { CHAOS_EFFECT_KINDS, type ChaosEffectKind, type ChaosReport } from "./chaos.ts";

const EFFECT_LABELS: Record<ChaosEffectKind, string> = {
  auditEntries: "audit entries",
  nextOccurrences: "next occurrences",
  reminders: "reminders received",
  taskEvents: "task-events by id",
  reminderDueEvents: "reminder.due by id",
};

const counts = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([s, n]) => `${s}: ${n}`)
    .join(", ") || "none";

const seconds = (s: number | null) => (s === null ? "not before the load ended" : `${s.toFixed(1)} s`);

export const formatChaosReport = (r: ChaosReport): string => {
  const header = ["effect", "acknowledged", "lost", "duplicated"];
  const rows = CHAOS_EFFECT_KINDS.map((k) => [EFFECT_LABELS[k], String(r.effects[k].expected), String(r.effects[k].lost), String(r.effects[k].duplicated)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")}`;
  const dl = r.deadLetters;
  const facts: [string, string][] = [
    ["fault", `${r.fault}: ${r.description}`],
    [
      "load",
      `${r.rate} writes/s for ${r.durationS} s; fault window ${r.window.startS.toFixed(0)}–${r.window.endS.toFixed(1)} s; ${r.writes.acknowledged} writes acknowledged`,
    ],
    [
      "steps",
      r.window.steps.map((s) => `t=${s.atS.toFixed(1)} s ${s.what} (${s.tookS.toFixed(1)} s)${s.error ? ` FAILED: ${s.error}` : ""}`).join("; ") || "none",
    ],
    ["writes acknowledged during the fault", String(r.writes.acknowledgedDuringFault)],
    [
      "writes refused during the fault",
      `${counts(r.writes.refusedDuringFaultByStatus)}${r.writes.refusedWithoutRetryAfter ? `; ${r.writes.refusedWithoutRetryAfter} without Retry-After` : ""}`,
    ],
    ["server errors (5xx but 503), whole run", String(r.writes.serverErrors)],
    ["time to recover: writes", seconds(r.writesRecoveredS)],
    ["time to recover: consumer lag", seconds(r.lagRecoveredS)],
    ["dead letters created", String(dl.created)],
    [
      "replaying them completes the picture",
      dl.completesPicture === null
        ? "nothing to replay"
        : `${dl.completesPicture ? "yes" : "no"} (${dl.replayed} replayed, ${dl.lostAfterReplay} effects still missing)`,
    ],
    ["receiver repeats with a known Idempotency-Key", String(r.receiverRepeats)],
    ["republished copies of an event id", String(r.republishedCopies)],
    ["tasks with task-events out of order", String(r.outOfOrderTasks)],
  ];
  const rssRows = Object.entries(r.rss)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(
      ([name, s]) =>
        `    ${name.padEnd(30)} ${s.firstMiB.toFixed(0).padStart(5)} → ${s.lastMiB.toFixed(0).padStart(5)} MiB (max ${s.maxMiB.toFixed(0)}, ${s.growthMiB >= 0 ? "+" : ""}${s.growthMiB.toFixed(1)} MiB; late trend ${s.lateGrowthMiBPerMin.toFixed(2)} MiB/min)`,
    );
  const width = Math.max(...facts.map(([k]) => k.length));
  return [
    line(header),
    ...rows.map(line),
    "",
    ...facts.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`),
    "  RSS per process (first → last sample):",
    ...rssRows,
    ...r.notes.map((n) => `  note: ${n}`),
  ].join("\n");
};
