/** `npm run docs`: writes the generated docs and removes generated files no longer produced. */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { RUN_RESOURCES_DIR, runFileDocs } from "../dapr-run/run-file.ts";
import { PUBSUB_SCOPES_COMPONENT, renderPubsubScopes } from "../manifests/pubsub-scopes.ts";
import { repoRoot } from "../stack/paths.ts";
import { renderEventSchemas } from "./event-schemas.ts";
import { jsonSchemaDocs, SCHEMAS_DIR } from "./json-schemas.ts";
import { renderKafkaTopics } from "./kafka-topics.ts";

export const GENERATED_DOCS: Record<string, () => string> = {
  "docs/kafka-topics.md": renderKafkaTopics,
  "docs/event-schemas.md": renderEventSchemas,
  ...jsonSchemaDocs(),
  [PUBSUB_SCOPES_COMPONENT]: renderPubsubScopes,
  ...runFileDocs(),
};

/** Folders that hold generated files only: anything else in them is stale. */
export const GENERATED_DIRS: readonly string[] = [SCHEMAS_DIR, RUN_RESOURCES_DIR];

/** Repo-relative paths of files in GENERATED_DIRS that no entry of GENERATED_DOCS produces. */
export const staleGeneratedFiles = (): string[] =>
  GENERATED_DIRS.flatMap((dir) => (existsSync(join(repoRoot, dir)) ? readdirSync(join(repoRoot, dir)).map((name) => `${dir}/${name}`) : [])).filter(
    (file) => !(file in GENERATED_DOCS),
  );

const writeDocs = (): void => {
  for (const [file, render] of Object.entries(GENERATED_DOCS)) {
    mkdirSync(dirname(join(repoRoot, file)), { recursive: true });
    writeFileSync(join(repoRoot, file), render());
    process.stdout.write(`wrote ${file}\n`);
  }
};

const removeStaleDocs = (): void => {
  for (const file of staleGeneratedFiles()) {
    rmSync(join(repoRoot, file), { recursive: true });
    process.stdout.write(`removed ${file}\n`);
  }
};

if (import.meta.url === `file://${process.argv[1]}`) {
  writeDocs();
  removeStaleDocs();
}
