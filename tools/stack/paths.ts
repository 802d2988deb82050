import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Project-local runtime data (Kafka log dirs, state, logs); git-ignored. */
export const defaultDataDir = (): string => process.env["STACK_DATA_DIR"] ?? join(repoRoot, ".data");
