/**
 * `npm run chaos -- --fault <name> [--rate R] [--duration D] [--warmup W] [--users U]`
 *
 * Starts its own stack on free ports in .data/chaos (like `npm run load`),
 * drives the mixed write load, injects one fault in the middle third of the
 * run, lets the system recover, and reconciles every acknowledged write
 * against its effects. Prints a table (one row per effect kind: acknowledged,
 * lost, duplicated) with the time to recover, the writes refused during the
 * fault, the dead letters created and whether replaying them completes the
 * picture, and the RSS of every process; writes the report as JSON to
 * .data/chaos/reports/. Loopback only, bounded by the rate and the duration.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { repoRoot } from "../stack/paths.ts";
import { DEFAULT_CHAOS_PLAN, runChaos, totals } from "./chaos.ts";
import { FAULT_NAMES } from "./faults.ts";
import { formatChaosReport } from "./report.ts";

const Args = z.object({
  fault: z.enum(FAULT_NAMES),
  rate: z.coerce.number().positive().max(500).default(DEFAULT_CHAOS_PLAN.rate),
  duration: z.coerce.number().int().min(12).max(1_800).default(DEFAULT_CHAOS_PLAN.durationS),
  warmup: z.coerce.number().int().min(0).max(300).default(DEFAULT_CHAOS_PLAN.warmupS),
  users: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_CHAOS_PLAN.users),
});

const say = (line: string) => process.stdout.write(`[chaos] ${line}\n`);

const main = async () => {
  const { values } = parseArgs({ options: Object.fromEntries(Object.keys(Args.shape).map((k) => [k, { type: "string" as const }])) });
  const parsed = Args.safeParse(values);
  if (!parsed.success) {
    process.stderr.write(`chaos: ${parsed.error.issues.map((i) => `--${i.path.join(".") || "args"}: ${i.message}`).join("; ")}\n`);
    process.exit(2);
  }
  const a = parsed.data;
  const report = await runChaos({ ...DEFAULT_CHAOS_PLAN, fault: a.fault, rate: a.rate, durationS: a.duration, warmupS: a.warmup, users: a.users, log: say });
  const dir = join(repoRoot, ".data/chaos/reports");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${a.fault}-${report.startedAt.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\n${formatChaosReport(report)}\n\nreport: ${file}\n`);
  const { lost, duplicated } = totals(report);
  if (lost > 0 || duplicated > 0) process.exitCode = 1;
};

main().catch((err: unknown) => {
  process.stderr.write(`chaos failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
