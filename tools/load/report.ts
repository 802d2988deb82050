/** Percentiles and the printed report of a load run. */
import type { Reconciliation } from "./reconcile.ts";
import { EFFECT_KINDS } from "./reconcile.ts";

export const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
};

export interface LoadReport {
  scenario: string;
  mode: string;
  startedAt: string;
  durationS: number;
  warmupS: number;
  /** Open loop: the offered rate; closed loop: the clients. */
  offered: string;
  users: number;
  writes: {
    offered: number;
    sent: number;
    acknowledged: number;
    achievedRate: number;
    /** 503/429 answers (the client should retry later), by status. */
    refusedByStatus: Record<string, number>;
    /** Refusals that came without a Retry-After header. */
    refusedWithoutRetryAfter: number;
    /** Any other failure, by status ("network" for no answer). */
    errorsByStatus: Record<string, number>;
  };
  httpLatencyMs: { p50: number; p90: number; p99: number; max: number };
  writeToAuditMs: { p50: number; p99: number; samples: number };
  consumers: Record<string, { maxLag: number; drainS: number | null; deadLettersCreated: number }>;
  effects: Reconciliation["effects"];
  unexplainedTasks: number;
  /** CPU milliseconds per acknowledged write, per process, from the start of the measured window until every consumer drained. */
  cpuMsPerWrite: Record<string, number>;
  /** Cosmos DB round trips and operations per acknowledged write, and their request-unit equivalents. */
  cosmosPerWrite: { requests: number; operations: Record<string, number>; requestUnits: number };
  notes: string[];
}

const ms = (n: number) => (Number.isNaN(n) ? "–" : `${n.toFixed(n < 10 ? 1 : 0)} ms`);
const counts = (c: Record<string, number>) =>
  Object.entries(c)
    .map(([s, n]) => `${s}: ${n}`)
    .join(", ") || "none";

export const formatReport = (r: LoadReport): string => {
  const cpuTotal = Object.entries(r.cpuMsPerWrite)
    .filter(([name]) => name !== "load driver")
    .reduce((sum, [, v]) => sum + v, 0);
  const rows: [string, string][] = [
    ["scenario", `${r.scenario}, ${r.mode} loop (${r.offered}), ${r.durationS} s after ${r.warmupS} s warm-up, ${r.users} users`],
    [
      "writes offered / sent / acknowledged",
      `${r.writes.offered} / ${r.writes.sent} / ${r.writes.acknowledged} (${r.writes.achievedRate.toFixed(1)} writes/s achieved)`,
    ],
    [
      "refused (retry later)",
      `${counts(r.writes.refusedByStatus)}${r.writes.refusedWithoutRetryAfter ? `; ${r.writes.refusedWithoutRetryAfter} without Retry-After` : ""}`,
    ],
    ["errors by status", counts(r.writes.errorsByStatus)],
    ["HTTP latency p50 / p90 / p99 / max", [r.httpLatencyMs.p50, r.httpLatencyMs.p90, r.httpLatencyMs.p99, r.httpLatencyMs.max].map(ms).join(" / ")],
    ["write → audit entry p50 / p99", `${ms(r.writeToAuditMs.p50)} / ${ms(r.writeToAuditMs.p99)} (${r.writeToAuditMs.samples} writes)`],
    ...Object.entries(r.consumers).map(([name, c]): [string, string] => [
      `${name}: max lag, drain, dead letters`,
      `${c.maxLag} events, ${c.drainS === null ? "did not drain" : `${c.drainS.toFixed(1)} s after the load stopped`}, ${c.deadLettersCreated}`,
    ]),
    ...EFFECT_KINDS.map((k): [string, string] => {
      const e = r.effects[k];
      return [`${k}: lost / duplicated`, `${e.lost} / ${e.duplicated} (expected ${e.expected}${e.upTo > e.expected ? ` to ${e.upTo}` : ""}, found ${e.found})`];
    }),
    ["tasks no acknowledged write explains", String(r.unexplainedTasks)],
    [
      "CPU ms per write (all but the driver)",
      `${cpuTotal.toFixed(1)}: ${Object.entries(r.cpuMsPerWrite)
        .map(([n, v]) => `${n} ${v.toFixed(2)}`)
        .join(", ")}`,
    ],
    [
      "Cosmos DB per write",
      `${r.cosmosPerWrite.requests.toFixed(2)} round trips carrying ${counts(Object.fromEntries(Object.entries(r.cosmosPerWrite.operations).map(([k, v]) => [k, Number(v.toFixed(2))])))}; ${r.cosmosPerWrite.requestUnits.toFixed(1)} RU-equivalents`,
    ],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), ...r.notes.map((n) => `  note: ${n}`)].join("\n");
};
