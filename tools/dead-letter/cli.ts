/**
 * `npm run dlq -- list [--consumer <service>]... [--json]`
 * `npm run dlq -- replay --consumer <service> (--id <eventId>... | --all) [--json]`
 * `npm run dlq -- ack --consumer <service>... [--json]`
 *
 * Against a cluster's Kafka (KAFKA_BROKERS, KAFKA_SASL_*, KAFKA_TLS), from a pod
 * with its sidecar (DLQ_SIDECAR=pod), or the stack `npm run dev` runs
 * (STACK_DATA_DIR, default .data/): target.ts. Results go to stdout, progress to stderr.
 */
import { DEAD_LETTER_OWNERS } from "../../shared/catalog/names.ts";
import { defaultDataDir } from "../stack/paths.ts";
import { parseCommand, usage, UsageError, type Command } from "./args.ts";
import { acknowledge, listDeadLetters, replay } from "./dead-letters.ts";
import { formatAck, formatList, formatReplay } from "./records.ts";
import { shutdownPodSidecar } from "./session.ts";
import { targetFromEnv, type Target } from "./target.ts";

const say = (line: string) => process.stderr.write(`[dlq] ${line}\n`);

/** What the run rendered (a cluster's credentials among it), removed however the run ends. */
let cleanUp: () => void = () => undefined;

const run = async (command: Command): Promise<string> => {
  if (command.command === "help") return `${usage(DEAD_LETTER_OWNERS)}\n`;
  const target = await targetFromEnv(defaultDataDir());
  if (target.kind === "own") cleanUp = target.cleanUp;
  try {
    return await runOn(target, command);
  } finally {
    cleanUp();
  }
};

/**
 * In a pod, the Job completes only once the sidecar has stopped too: a run that failed before it
 * got to stop it (a bad setting, Kafka refusing it) asks it to, from the settings as they are.
 */
const releasePodSidecar = async (): Promise<void> => {
  if (process.env["DLQ_SIDECAR"] !== "pod") return;
  const daprPort = Number(process.env["DAPR_HTTP_PORT"] ?? 3500);
  await shutdownPodSidecar({ daprHost: process.env["DAPR_HOST"] ?? "127.0.0.1", daprPort, apiToken: process.env["DAPR_API_TOKEN"] }, say);
};

const runOn = async (target: Target, command: Exclude<Command, { command: "help" }>): Promise<string> => {
  if (command.command === "list") {
    const results = await listDeadLetters(target, { consumers: command.consumers, log: say });
    return command.json ? `${JSON.stringify(results, null, 2)}\n` : formatList(results);
  }
  if (command.command === "ack") {
    const results = await acknowledge(target, { consumers: command.consumers });
    if (target.kind === "pod") await shutdownPodSidecar(target.sidecar, say);
    return command.json ? `${JSON.stringify(results, null, 2)}\n` : formatAck(results);
  }
  const result = await replay(target, { consumer: command.consumer, ids: command.ids, log: say });
  return command.json ? `${JSON.stringify(result, null, 2)}\n` : formatReplay(result);
};

const main = async (): Promise<number> => {
  let command: Command;
  try {
    command = parseCommand(process.argv.slice(2), DEAD_LETTER_OWNERS);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${usage(DEAD_LETTER_OWNERS)}\n`);
    return 2;
  }
  try {
    process.stdout.write(await run(command));
    return 0;
  } catch (err) {
    process.stderr.write(`dlq ${command.command} failed: ${err instanceof Error ? err.message : String(err)}\n`);
    await releasePodSidecar();
    return 1;
  }
};

// Ctrl-C: exiting stops the sidecar too (the stack's process handling kills its children on exit).
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    process.stderr.write(`[dlq] ${signal}: stopping\n`);
    cleanUp();
    process.exit(130);
  });
}

// Exit explicitly: the Kafka and Dapr clients may keep sockets open; the sidecar is already stopped.
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`dlq failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
