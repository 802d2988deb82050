/**
 * `npm run load -- [--rate R | --clients N] --duration D --scenario steady|burst|consumer-down [--users U] [--warmup W]`
 *
 * Starts its own stack (Kafka, scheduler, Cosmos server, every function with
 * its daprd) in .data/load, warms it up, drives task-api with a mixed write
 * load from many users, then reconciles every acknowledged write against its
 * effects: audit entries, next occurrences, webhook reminders. Prints a table
 * and writes the report as JSON to .data/load/reports/.
 *
 * --rate: open loop, a fixed arrival rate whatever the answers (what users see
 * past capacity). --clients: closed loop, N clients one write at a time (the
 * rate the system sustains). Traffic stays on loopback, bounded by the rate or
 * the clients and the duration.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { repoRoot } from "../stack/paths.ts";
import { DEFAULT_PLAN, runLoad, SCENARIOS } from "./load.ts";
import { formatReport } from "./report.ts";
import { LoadSession } from "./session.ts";

const ArgFields = z.object({
  rate: z.coerce.number().positive().max(1_000).optional(),
  clients: z.coerce.number().int().min(1).max(512).optional(),
  duration: z.coerce.number().int().min(5).max(1_800).default(DEFAULT_PLAN.durationS),
  warmup: z.coerce.number().int().min(0).max(300).default(DEFAULT_PLAN.warmupS),
  scenario: z.enum(SCENARIOS).default(DEFAULT_PLAN.scenario),
  users: z.coerce.number().int().min(1).max(10_000).default(DEFAULT_PLAN.users),
});
const Args = ArgFields.refine((a) => !(a.rate && a.clients), { message: "give --rate (open loop) or --clients (closed loop), not both" });

const say = (line: string) => process.stdout.write(`[load] ${line}\n`);

const main = async () => {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.keys(ArgFields.shape).map((k) => [k, { type: "string" as const }])),
  });
  const parsed = Args.safeParse(values);
  if (!parsed.success) {
    process.stderr.write(`load: ${parsed.error.issues.map((i) => `--${i.path.join(".") || "args"}: ${i.message}`).join("; ")}\n`);
    process.exit(2);
  }
  const args = parsed.data;
  const session = await LoadSession.start({ name: "load", log: say });
  try {
    say("stack ready");
    const report = await runLoad(session, {
      ...DEFAULT_PLAN,
      scenario: args.scenario,
      mode: args.clients ? "closed" : "open",
      rate: args.rate ?? DEFAULT_PLAN.rate,
      clients: args.clients ?? DEFAULT_PLAN.clients,
      durationS: args.duration,
      warmupS: args.warmup,
      users: args.users,
      log: say,
    });
    const dir = join(repoRoot, ".data/load/reports");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${args.scenario}-${report.startedAt.replace(/[:.]/g, "-")}.json`);
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`\n${formatReport(report)}\n\nreport: ${file}\n`);
  } finally {
    await session.stop();
  }
};

main().catch((err: unknown) => {
  process.stderr.write(`load failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
