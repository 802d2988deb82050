import { execFile as execFileCb } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { DEPLOYED_FUNCTIONS } from "../../tools/manifests/checks.ts";
import { repoRoot } from "../../tools/stack/paths.ts";

const execFile = promisify(execFileCb);

/** One Dockerfile instruction (continuation lines joined), comments dropped. */
interface Instruction {
  keyword: string;
  args: string;
}

const instructionsOf = (text: string): Instruction[] =>
  text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [keyword = "", ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(" ") };
    });

/** The sources of a COPY from the build context (not --from another stage). */
const contextSources = (copy: Instruction): string[] => {
  const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith("--"));
  return copy.args.includes("--from=") ? [] : parts.slice(0, -1);
};

/** The bundle command of a function's build stage; the test below runs it. */
const bundleCommand = (service: string, outfile: string): string[] => [
  `functions/${service}/main.ts`,
  "--bundle",
  "--platform=node",
  "--target=node20",
  "--format=esm",
  "--packages=external",
  "--sourcemap",
  `--outfile=${outfile}`,
];

describe.each(DEPLOYED_FUNCTIONS)("functions/%s/Dockerfile", (service) => {
  const path = join(repoRoot, "functions", service, "Dockerfile");
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  const instructions = instructionsOf(text);

  it("exists and documents its build command", () => {
    expect(existsSync(path), `${path} is missing`).toBe(true);
    expect(text).toContain(`docker build -f functions/${service}/Dockerfile -t taskapp/${service}:dev .`);
  });

  it("is multi-stage and runs as a non-root user", () => {
    const froms = instructions.filter((i) => i.keyword === "FROM");
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const lastFrom = instructions.lastIndexOf(froms[froms.length - 1]!);
    const users = instructions.slice(lastFrom).filter((i) => i.keyword === "USER");
    expect(users.length, "the runtime stage sets USER").toBeGreaterThan(0);
    // Numeric, so Kubernetes can verify runAsNonRoot; never uid 0.
    expect(users[users.length - 1]!.args).toMatch(/^[1-9]\d*(:\d+)?$/);
  });

  it("copies only its own function folder, shared/ and the package manifests", () => {
    const sources = instructions.filter((i) => i.keyword === "COPY" || i.keyword === "ADD").flatMap(contextSources);
    expect(sources).toContain(`functions/${service}/`);
    expect(sources).toContain("shared/");
    for (const source of sources) {
      expect([`functions/${service}/`, "shared/", "package.json", "package-lock.json"], `COPY ${source}`).toContain(source);
    }
  });

  it("bundles with the command the test runs", () => {
    expect(text).toContain(`RUN npx esbuild ${bundleCommand(service, "dist/main.mjs").join(" ")}`);
    expect(instructions.find((i) => i.keyword === "CMD")?.args).toBe('["node", "--enable-source-maps", "main.mjs"]');
  });

  // A function whose code has not landed yet has nothing to bundle.
  const main = join(repoRoot, "functions", service, "main.ts");
  it.skipIf(!existsSync(main))("bundles: the build stage's esbuild step succeeds on the current sources", async () => {
    const out = mkdtempSync(join(tmpdir(), `bundle-${service}-`));
    try {
      await execFile(join(repoRoot, "node_modules/.bin/esbuild"), [...bundleCommand(service, join(out, "main.mjs")), "--log-level=error"], { cwd: repoRoot });
      expect(existsSync(join(out, "main.mjs"))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
