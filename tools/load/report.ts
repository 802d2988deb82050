/** Percentiles and the printed report of a load run. */

export const percentile = (values: number[], p: number): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
};

export interface LoadReport {
  scenario: string;
  startedAt: string;
  durationS: number;
  targetRate: number;
  users: number;
  writes: { attempted: number; acknowledged: number; achievedRate: number; errorsByStatus: Record<string, number> };
  httpLatencyMs: { p50: number; p90: number; p99: number; max: number };
  writeToAuditMs: { p50: number; p99: number; samples: number };
  consumers: Record<string, { maxLag: number; drainS: number | null }>;
  effects: {
    auditEntries: { expected: number; found: number; lost: number; duplicated: number };
    nextOccurrences: { expected: number; found: number; lost: number; duplicated: number };
    reminders: { expected: number; found: number; lost: number; duplicated: number };
  };
  notes: string[];
}

const ms = (n: number) => (Number.isNaN(n) ? "–" : `${n.toFixed(n < 10 ? 1 : 0)} ms`);

export const formatReport = (r: LoadReport): string => {
  const rows: [string, string][] = [
    ["scenario", `${r.scenario}, ${r.durationS} s at ${r.targetRate} writes/s, ${r.users} users`],
    ["writes acknowledged", `${r.writes.acknowledged} of ${r.writes.attempted} (${r.writes.achievedRate.toFixed(1)} writes/s achieved)`],
    ["errors by status", Object.entries(r.writes.errorsByStatus).map(([s, n]) => `${s}: ${n}`).join(", ") || "none"],
    ["HTTP latency p50 / p90 / p99 / max", [r.httpLatencyMs.p50, r.httpLatencyMs.p90, r.httpLatencyMs.p99, r.httpLatencyMs.max].map(ms).join(" / ")],
    ["write → audit entry p50 / p99", `${ms(r.writeToAuditMs.p50)} / ${ms(r.writeToAuditMs.p99)} (${r.writeToAuditMs.samples} writes)`],
    ...Object.entries(r.consumers).map(([name, c]): [string, string] => [
      `${name}: max lag, drain`,
      `${c.maxLag} events, ${c.drainS === null ? "did not drain" : `${c.drainS.toFixed(1)} s after the load stopped`}`,
    ]),
    ...(["auditEntries", "nextOccurrences", "reminders"] as const).map((k): [string, string] => {
      const e = r.effects[k];
      return [`${k}: lost / duplicated`, `${e.lost} / ${e.duplicated} (expected ${e.expected}, found ${e.found})`];
    }),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), ...r.notes.map((n) => `  note: ${n}`)].join("\n");
};
