import { parseArgs } from "node:util";

export type Command =
  | { command: "help" }
  | { command: "list"; consumers: string[]; json: boolean }
  | { command: "replay"; consumer: string; ids: string[] | "all"; json: boolean }
  | { command: "ack"; consumers: string[]; json: boolean };

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export const usage = (consumers: readonly string[]): string =>
  [
    "usage:",
    "  npm run dlq -- list [--consumer <service>]... [--json]",
    "  npm run dlq -- replay --consumer <service> (--id <eventId>... | --all) [--json]",
    "  npm run dlq -- ack --consumer <service>... [--json]",
    "",
    "list     prints the dead-lettered events of each consumer (all consumers unless --consumer)",
    "replay   re-publishes the original events, unchanged, to the topics they came from;",
    "         the dead-letter topic itself is not changed; --all also acknowledges what it read",
    "ack      marks every record now on the consumers' dead-letter topics as dealt with:",
    "         dead-letter depth (the metric and its alert) counts only what comes after",
    "",
    `consumers: ${consumers.join(", ")}`,
    "Kafka: KAFKA_BROKERS with KAFKA_SASL_MECHANISM/USERNAME/PASSWORD and KAFKA_TLS (a cluster's);",
    "       unset: the stack `npm run dev` runs (STACK_DATA_DIR, default .data/)",
  ].join("\n");

/** Parses the tool's arguments; `known` are the consumers a --consumer may name. */
export const parseCommand = (argv: string[], known: readonly string[]): Command => {
  const parse = () =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        consumer: { type: "string", multiple: true },
        id: { type: "string", multiple: true },
        all: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === "help") return { command: "help" };
  if (rest.length > 0) throw new UsageError(`unexpected argument: ${rest.join(" ")}`);

  const consumers = values.consumer ?? [];
  const unknown = consumers.filter((c) => !known.includes(c));
  if (unknown.length > 0) throw new UsageError(`unknown consumer ${unknown.join(", ")}: one of ${known.join(", ")}`);
  const ids = values.id ?? [];
  const json = values.json ?? false;
  const all = values.all ?? false;

  switch (command) {
    case "list": {
      if (ids.length > 0 || all) throw new UsageError("list takes no --id or --all (they select what replay publishes)");
      return { command: "list", consumers: consumers.length > 0 ? [...new Set(consumers)] : [...known], json };
    }
    case "replay": {
      const [consumer, ...others] = [...new Set(consumers)];
      if (consumer === undefined || others.length > 0) throw new UsageError("replay needs exactly one --consumer");
      if (ids.length > 0 && all) throw new UsageError("replay takes --id or --all, not both");
      if (ids.length === 0 && !all) throw new UsageError("replay needs --id <eventId> (repeatable) or --all");
      if (ids.some((id) => id.trim() === "")) throw new UsageError("--id needs an event id");
      return { command: "replay", consumer, ids: all ? "all" : ids, json };
    }
    case "ack": {
      if (ids.length > 0 || all) throw new UsageError("ack takes no --id or --all: it acknowledges everything on the topics");
      if (consumers.length === 0) throw new UsageError("ack needs --consumer <service> (repeatable)");
      return { command: "ack", consumers: [...new Set(consumers)], json };
    }
    default:
      throw new UsageError(`unknown command ${command}: list, replay or ack`);
  }
};
