/** `npm run docs`: writes the generated docs. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "../stack/paths.ts";
import { renderKafkaTopics } from "./kafka-topics.ts";

export const GENERATED_DOCS: Record<string, () => string> = {
  "docs/kafka-topics.md": renderKafkaTopics,
};

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [file, render] of Object.entries(GENERATED_DOCS)) {
    writeFileSync(join(repoRoot, file), render());
    process.stdout.write(`wrote ${file}\n`);
  }
}
