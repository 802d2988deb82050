import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { GENERATED_DIRS, GENERATED_DOCS, staleGeneratedFiles } from "../../tools/docs/generate.ts";
import { repoRoot } from "../../tools/stack/paths.ts";

describe("generated docs", () => {
  for (const [file, render] of Object.entries(GENERATED_DOCS)) {
    it(`${file} matches the code (run \`npm run docs\` after changing it)`, () => {
      expect(readFileSync(join(repoRoot, file), "utf8")).toBe(render());
    });
  }

  it(`${GENERATED_DIRS.join(", ")} hold generated files only (run \`npm run docs\` to remove stale ones)`, () => {
    expect(staleGeneratedFiles()).toEqual([]);
  });
});
