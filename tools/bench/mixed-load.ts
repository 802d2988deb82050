/**
 * P0 mixed load: the write rate task-api sustains with every consumer on,
 * found by stepping the offered rate (open loop) after a warm-up. A step
 * holds when at least 97 % of the offered writes are acknowledged (none
 * refused) and HTTP p99 stays within the target. Every step reconciles its
 * writes' effects, so a rate that loses or repeats an effect cannot pass.
 */
import { runLoad, DEFAULT_PLAN } from "../load/load.ts";
import type { LoadReport } from "../load/report.ts";
import { EFFECT_KINDS } from "../load/reconcile.ts";
import type { LoadSession } from "../load/session.ts";

export interface Step {
  rate: number;
  achieved: number;
  refused: number;
  p50Ms: number;
  p99Ms: number;
  holds: boolean;
  effectsIntact: boolean;
  report: LoadReport;
}

export interface MixedLoadResult {
  p99TargetMs: number;
  steps: Step[];
  /** The highest offered rate that held. */
  sustained: number;
}

export const benchMixedLoad = async (
  session: LoadSession,
  opts: { rates: number[]; stepS: number; warmupS: number; p99TargetMs: number; log: (line: string) => void },
): Promise<MixedLoadResult> => {
  const steps: Step[] = [];
  let warmupS = opts.warmupS;
  for (const rate of opts.rates) {
    const report = await runLoad(session, { ...DEFAULT_PLAN, rate, durationS: opts.stepS, warmupS, users: 100, log: () => undefined });
    warmupS = 0;
    const refused = Object.values(report.writes.refusedByStatus).reduce((a, b) => a + b, 0);
    const achieved = report.writes.achievedRate;
    const effectsIntact = EFFECT_KINDS.every((k) => report.effects[k].lost === 0 && report.effects[k].duplicated === 0) && report.unexplainedTasks === 0;
    const holds = refused === 0 && achieved >= rate * 0.97 && report.httpLatencyMs.p99 <= opts.p99TargetMs && effectsIntact;
    steps.push({ rate, achieved, refused, p50Ms: report.httpLatencyMs.p50, p99Ms: report.httpLatencyMs.p99, holds, effectsIntact, report });
    opts.log(
      `P0: ${rate} writes/s offered: ${achieved.toFixed(1)} acknowledged/s, ${refused} refused, p50 ${report.httpLatencyMs.p50.toFixed(1)} ms, p99 ${report.httpLatencyMs.p99.toFixed(1)} ms, effects ${effectsIntact ? "intact" : "LOST OR REPEATED"}: ${holds ? "holds" : "does not hold"}`,
    );
    if (!holds) break;
  }
  const sustained = Math.max(0, ...steps.filter((s) => s.holds).map((s) => s.rate));
  return { p99TargetMs: opts.p99TargetMs, steps, sustained };
};
