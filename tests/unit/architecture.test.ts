/**
 * The house's layers, enforced on the import graph of every .ts file (docs/architecture.md):
 *
 *   shared/catalog ← shared (host, config, …) ← functions/<service> ← tools ← tests
 *
 * An arrow runs only down: shared imports nothing above it, a function imports shared and its
 * own folder, tools import shared and functions, tests anything. Production code never imports
 * shared/testing, and no file reaches itself through its imports.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { DEPLOYED_FUNCTIONS } from "../../shared/catalog/names.ts";
import { repoRoot } from "../../tools/stack/paths.ts";

const ROOTS = ["shared", "functions", "tools", "tests"];

/** Every .ts file under the layered folders, as a path from the repository root. */
const sourceFiles = (): string[] => {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(repoRoot, dir), { withFileTypes: true })) {
      if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) files.push(path);
    }
  };
  for (const root of ROOTS) walk(root);
  return files.sort();
};

/** The repository files a file imports (static, type-only, re-exports and dynamic imports alike); packages are left out. */
const importsOf = (file: string, text: string): string[] =>
  ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) =>
      relative(repoRoot, resolve(repoRoot, dirname(file), specifier))
        .split("\\")
        .join("/"),
    );

type ImportGraph = Map<string, string[]>;

const graphOf = (files: string[]): ImportGraph => new Map(files.map((file) => [file, importsOf(file, readFileSync(join(repoRoot, file), "utf8"))]));

/** Why an import breaks the layering, or undefined when it is allowed. */
const forbidden = (from: string, to: string): string | undefined => {
  const [fromRoot, fromSub] = from.split("/");
  const [toRoot, toSub] = to.split("/");
  const production = fromRoot === "functions" || (fromRoot === "shared" && fromSub !== "testing");
  if (production && toRoot === "shared" && toSub === "testing") return "production code imports shared/testing";
  switch (fromRoot) {
    case "shared":
      if (toRoot !== "shared") return `shared/ imports ${toRoot}/`;
      if (fromSub === "catalog" && toSub !== "catalog") return "shared/catalog imports the rest of shared/";
      return undefined;
    case "functions":
      if (toRoot === "shared") return undefined;
      if (toRoot === "functions" && toSub === fromSub) return undefined;
      return toRoot === "functions" ? "one function imports another" : `functions/ imports ${toRoot}/`;
    case "tools":
      return toRoot === "shared" || toRoot === "functions" || toRoot === "tools" ? undefined : `tools/ imports ${toRoot}/`;
    default:
      return undefined;
  }
};

/** Every import that breaks the layering, as `from → to: why`. */
const layerViolations = (graph: ImportGraph): string[] =>
  [...graph].flatMap(([from, targets]) =>
    targets.flatMap((to) => {
      const why = forbidden(from, to);
      return why ? [`${from} → ${to}: ${why}`] : [];
    }),
  );

/** The import cycles of the graph, each as the files around it (first file repeated at the end). */
const cyclesOf = (graph: ImportGraph): string[][] => {
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    path.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === "open") cycles.push([...path.slice(path.indexOf(next)), next]);
      else if (!state.has(next) && graph.has(next)) visit(next);
    }
    path.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return cycles;
};

describe("the import graph", () => {
  const graph = graphOf(sourceFiles());

  it("covers every layer and resolves every import to a file", () => {
    for (const root of ROOTS)
      expect(
        [...graph.keys()].some((f) => f.startsWith(`${root}/`)),
        root,
      ).toBe(true);
    const unresolved = [...graph].flatMap(([from, targets]) =>
      targets.filter((to) => !graph.has(to) && !/\.(json|js)$/.test(to)).map((to) => `${from} → ${to}`),
    );
    expect(unresolved).toEqual([]);
  });

  it("has arrows only downwards: shared imports nothing above it, functions only shared, tools shared and functions", () => {
    expect(layerViolations(graph)).toEqual([]);
  });

  it("has no cycle", () => {
    expect(cyclesOf(graph).map((cycle) => cycle.join(" → "))).toEqual([]);
  });
});

describe("functions/", () => {
  it("holds one folder per function of the catalog, named as its service, with a main.ts", () => {
    const folders = readdirSync(join(repoRoot, "functions"), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect(folders.sort()).toEqual([...DEPLOYED_FUNCTIONS].sort());
    for (const name of folders) expect(sourceFiles().includes(`functions/${name}/main.ts`), name).toBe(true);
  });
});

describe("the layering rules themselves", () => {
  it("refuse an arrow up, across functions, or into the test fakes from production code", () => {
    expect(forbidden("shared/host/run.ts", "tools/stack/process.ts")).toBe("shared/ imports tools/");
    expect(forbidden("shared/testing/x.ts", "functions/task-api/app.ts")).toBe("shared/ imports functions/");
    expect(forbidden("shared/catalog/names.ts", "shared/host/define.ts")).toBe("shared/catalog imports the rest of shared/");
    expect(forbidden("functions/task-api/app.ts", "functions/audit-service/entry.ts")).toBe("one function imports another");
    expect(forbidden("functions/task-api/app.ts", "tools/stack/paths.ts")).toBe("functions/ imports tools/");
    expect(forbidden("functions/task-api/app.ts", "shared/testing/memory-state.ts")).toBe("production code imports shared/testing");
    expect(forbidden("tools/load/run.ts", "tests/unit/x.ts")).toBe("tools/ imports tests/");
  });

  it("allow the arrows down", () => {
    expect(forbidden("functions/task-api/app.ts", "functions/task-api/store.ts")).toBeUndefined();
    expect(forbidden("functions/task-api/app.ts", "shared/host/define.ts")).toBeUndefined();
    expect(forbidden("tools/stack/functions.ts", "functions/task-api/app.ts")).toBeUndefined();
    expect(forbidden("tests/unit/x.test.ts", "shared/testing/memory-state.ts")).toBeUndefined();
  });

  it("find a cycle", () => {
    const graph: ImportGraph = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", ["a.ts"]],
    ]);
    expect(cyclesOf(graph)).toEqual([["a.ts", "b.ts", "c.ts", "a.ts"]]);
  });
});
