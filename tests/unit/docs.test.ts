import { existsSync, readdirSync, readFileSync } from "node:fs";
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

describe("README.md", () => {
  const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
  const linked = new Set([...readme.matchAll(/\]\(([^)#]+)(?:#[^)]*)?\)/g)].map((m) => m[1]!.replace(/\/$/, "")));

  it("links every document: docs/*.md and each folder's README", () => {
    const docs = readdirSync(join(repoRoot, "docs"))
      .filter((f) => f.endsWith(".md"))
      .map((f) => `docs/${f}`);
    const folderReadmes = readdirSync(repoRoot, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith(".") && d.name !== "node_modules" && existsSync(join(repoRoot, d.name, "README.md")))
      .map((d) => `${d.name}/README.md`);
    expect(docs.length).toBeGreaterThan(5);
    expect([...docs, ...folderReadmes].filter((doc) => !linked.has(doc))).toEqual([]);
  });

  it("links only files that exist", () => {
    expect([...linked].filter((target) => !/^https?:/.test(target) && !existsSync(join(repoRoot, target)))).toEqual([]);
  });
});
