/**
 * `npm run bench [-- --only p0,p1,p2,p3] [--events N] [--publish-events N] [--step S] [--rates 50,100,…] [--rounds N]`
 *
 * The benchmarks, side by side in one run on this machine, each against a
 * baseline measured in the same run (the machine is shared and noisy, so
 * ratios travel better than absolute figures):
 *
 *   P0 mixed load     the write rate sustained with p99 ≤ 100 ms, every consumer on;
 *                     write → audit latency and CPU ms per write per process at 100 writes/s
 *   P1 consumer drain a backlog drained with an idempotent effect: our host vs the SDK's DaprServer
 *   P2 publishing     the relay path and daprd (single, bulk) vs a direct Kafka producer
 *   P3 scale from zero lag appears → first event handled, with its parts, on the autoscaled
 *                     local mode (real KEDA); the baseline is KEDA's polling interval
 *
 * Prints a table and writes the figures as JSON to .data/bench/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { LoadSession } from "../load/session.ts";
import { repoRoot } from "../stack/paths.ts";
import { startStack } from "../stack/stack.ts";
import { benchDrain } from "./drain.ts";
import { benchMixedLoad, type MixedLoadResult } from "./mixed-load.ts";
import { benchPublishing, type Rate } from "./publish.ts";
import { measureScaleFromZero, type ScaleFromZeroFigures } from "./scale-from-zero.ts";

const Args = z.object({
  only: z
    .string()
    .default("p0,p1,p2,p3")
    .transform((s) => new Set(s.split(",").map((p) => p.trim().toLowerCase())))
    .refine((set) => [...set].every((p) => ["p0", "p1", "p2", "p3"].includes(p)), { message: "choose among p0, p1, p2, p3" }),
  rounds: z.coerce.number().int().min(1).max(20).default(3),
  events: z.coerce.number().int().min(100).max(200_000).default(20_000),
  "publish-events": z.coerce.number().int().min(100).max(200_000).default(5_000),
  step: z.coerce.number().int().min(5).max(300).default(20),
  rates: z
    .string()
    .default("50,100,150,200,250,300,350,400")
    .transform((s) => s.split(",").map(Number))
    .refine((r) => r.every((n) => Number.isFinite(n) && n > 0 && n <= 1_000), { message: "rates are positive numbers up to 1000" }),
});

const say = (line: string) => process.stdout.write(`[bench] ${line}\n`);

const ratioTable = (title: string, rates: Rate[]): string => {
  const base = rates[0]!.eventsPerS;
  const width = Math.max(...rates.map((r) => r.label.length));
  return [
    title,
    `  ${"case".padEnd(width)}  events/s   ratio`,
    ...rates.map((r) => `  ${r.label.padEnd(width)}  ${r.eventsPerS.toFixed(0).padStart(8)}  ${(r.eventsPerS / base).toFixed(2).padStart(6)}`),
  ].join("\n");
};

const mixedTable = (r: MixedLoadResult): string => {
  const at100 = r.steps.find((s) => s.rate === 100)?.report;
  const cpu = at100 ? Object.entries(at100.cpuMsPerWrite).filter(([name]) => name !== "load driver") : [];
  const total = cpu.reduce((sum, [, v]) => sum + v, 0);
  return [
    `P0 mixed load (open loop; a step holds with ≥ 97 % acknowledged, none refused, p99 ≤ ${r.p99TargetMs} ms, effects intact)`,
    `  offered/s  acknowledged/s  refused     p50      p99  effects  holds`,
    ...r.steps.map(
      (s) =>
        `  ${String(s.rate).padStart(9)}  ${s.achieved.toFixed(1).padStart(14)}  ${String(s.refused).padStart(7)}  ${s.p50Ms.toFixed(1).padStart(6)}  ${s.p99Ms.toFixed(1).padStart(7)}  ${(s.effectsIntact ? "intact" : "BROKEN").padStart(7)}  ${s.holds ? "yes" : "no"}`,
    ),
    `  sustained: ${r.sustained} writes/s`,
    ...(at100
      ? [
          `  write → audit entry at 100 writes/s: p50 ${at100.writeToAuditMs.p50.toFixed(0)} ms, p99 ${at100.writeToAuditMs.p99.toFixed(0)} ms`,
          `  CPU ms per write at 100 writes/s: ${total.toFixed(1)} in all`,
          ...cpu.sort(([, a], [, b]) => b - a).map(([name, v]) => `    ${name.padEnd(30)} ${v.toFixed(2).padStart(6)}`),
          `  Cosmos DB per write at 100 writes/s: ${at100.cosmosPerWrite.requests.toFixed(2)} round trips, ${at100.cosmosPerWrite.requestUnits.toFixed(1)} RU-equivalents`,
        ]
      : []),
  ].join("\n");
};

const scaleTable = (f: ScaleFromZeroFigures): string => {
  const m = f.median;
  const rows: [string, number][] = [
    ["KEDA polling (lag → replicas 1)", m.kedaPolling],
    ["replicas set → runner sees them", m.replicasSet],
    ["process start", m.processStart],
    ["sidecar start and group join", m.sidecarAndGroupJoin],
    ["first delivery", m.firstDelivery],
    ["lag appears → first event handled", m.total],
  ];
  return [
    `P3 scale from zero (${f.consumer}, KEDA polling every ${f.pollingIntervalSeconds} s, median of ${f.rounds.length}; ratio to the polling interval)`,
    ...rows.map(([label, ms]) => `  ${label.padEnd(36)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / (f.pollingIntervalSeconds * 1000)).toFixed(2).padStart(6)}`),
  ].join("\n");
};

const main = async () => {
  const { values } = parseArgs({
    options: Object.fromEntries(["only", "events", "publish-events", "step", "rates", "rounds"].map((k) => [k, { type: "string" as const }])),
  });
  const parsed = Args.safeParse(values);
  if (!parsed.success) {
    process.stderr.write(`bench: ${parsed.error.issues.map((i) => `--${i.path.join(".")}: ${i.message}`).join("; ")}\n`);
    process.exit(2);
  }
  const args = parsed.data;
  const startedAt = new Date().toISOString();
  const results: { p0?: MixedLoadResult; p1?: Rate[]; p2?: Rate[]; p3?: ScaleFromZeroFigures } = {};
  const sections: string[] = [];

  if (args.only.has("p1") || args.only.has("p2")) {
    const stack = await startStack({ dataDir: join(repoRoot, ".data/bench"), ports: "free", fresh: true });
    try {
      if (args.only.has("p2")) {
        say(`P2: publishing ${args["publish-events"]} events each way`);
        results.p2 = await benchPublishing(stack, args["publish-events"]);
        sections.push(ratioTable(`P2 publishing (${args["publish-events"]} events, 6 partitions, acks=all; ratio to kafkajs one at a time)`, results.p2));
      }
      if (args.only.has("p1")) {
        say(`P1: draining ${args.events} events each way`);
        results.p1 = await benchDrain(stack, args.events, say);
        sections.push(ratioTable(`P1 consumer drain (${args.events} events, one state-store claim each; ratio to DaprServer)`, results.p1));
      }
    } finally {
      await stack.stop();
    }
  }

  if (args.only.has("p0")) {
    const session = await LoadSession.start({ name: "bench-load" });
    try {
      say(`P0: stepping ${args.rates.join(", ")} writes/s, ${args.step} s each, after a 15 s warm-up`);
      results.p0 = await benchMixedLoad(session, { rates: args.rates, stepS: args.step, warmupS: 15, p99TargetMs: 100, log: say });
      sections.unshift(mixedTable(results.p0));
    } finally {
      await session.stop();
    }
  }

  if (args.only.has("p3")) {
    say(`P3: scaling from zero, ${args.rounds} rounds`);
    results.p3 = await measureScaleFromZero({ rounds: args.rounds, log: say });
    sections.push(scaleTable(results.p3));
  }

  const dir = join(repoRoot, ".data/bench");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `bench-${startedAt.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify({ startedAt, ...results }, null, 2)}\n`);
  process.stdout.write(`\n${sections.join("\n\n")}\n\nfigures: ${file}\n`);
};

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
