import { execFile as execFileCb } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { DEAD_LETTER_TOOL, DEPLOYED_FUNCTIONS } from "../../shared/catalog/names.ts";

/** What the image of the dead-letter tool runs (FUNCTION=dead-letter-tool). */
const DEAD_LETTER_TOOL_ENTRY = "tools/dead-letter/cli.ts";
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

/** The bundle command of the build stage for one function; the test below runs it. */
const bundleCommand = (entry: string, outfile: string, target: string): string[] => [
  entry,
  "--bundle",
  "--platform=node",
  `--target=${target}`,
  "--format=esm",
  "--packages=external",
  "--sourcemap",
  `--outfile=${outfile}`,
];

const DOCKERFILE = join(repoRoot, "Dockerfile");
const text = existsSync(DOCKERFILE) ? readFileSync(DOCKERFILE, "utf8") : "";
const instructions = instructionsOf(text);
const froms = instructions.filter((i) => i.keyword === "FROM");

/** The Node.js major of the base images, and esbuild's target for it. */
const nodeMajor = (image: string): number | undefined => {
  const match = /^node:(\d+)\.\d+\.\d+-slim\b/.exec(image);
  return match ? Number(match[1]) : undefined;
};

interface ContainerSpec {
  name?: string;
  image?: string;
}
interface DeploymentDoc {
  kind?: string;
  metadata?: { name?: string };
  spec?: { template?: { spec?: { containers?: ContainerSpec[] } } };
}

/** Every Deployment of deploy/base: the functions the manifests run. */
const baseDeployments = (): DeploymentDoc[] => {
  const dir = join(repoRoot, "deploy/base");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJS() as DeploymentDoc | null))
    .filter((d): d is DeploymentDoc => d?.kind === "Deployment");
};

describe("the Dockerfile (one for every function)", () => {
  it("exists at the repository root and documents its build command", () => {
    expect(existsSync(DOCKERFILE), `${DOCKERFILE} is missing`).toBe(true);
    expect(text).toContain("docker build --build-arg FUNCTION=task-api -t taskapp/task-api:dev .");
  });

  it("takes the function as a build argument and refuses a build without one, or without its entry point", () => {
    expect(instructions.filter((i) => i.keyword === "ARG").map((i) => i.args)).toContain("FUNCTION");
    expect(text).toMatch(/test -n "\$\{FUNCTION\}"/);
    expect(text).toContain(`else echo "functions/\${FUNCTION}/main.ts"; fi > entry`);
    expect(text).toContain(`if [ "\${FUNCTION}" = ${DEAD_LETTER_TOOL} ]; then echo ${DEAD_LETTER_TOOL_ENTRY};`);
    expect(text).toContain('RUN test -f "$(cat entry)"');
  });

  it("is multi-stage on one pinned, supported Node.js LTS, and runs as a non-root user", () => {
    expect(froms.length).toBeGreaterThanOrEqual(3);
    const images = froms.map((f) => f.args.split(/\s+/)[0]!);
    // Pinned by its full version tag, the same in every stage.
    expect(new Set(images).size, `stages use ${images.join(", ")}`).toBe(1);
    const major = nodeMajor(images[0]!);
    expect(major, `${images[0]} is not node:<major>.<minor>.<patch>-slim`).toBeDefined();
    // Node 20 reached its end of life in April 2026; LTS lines are the even ones.
    expect(major! >= 22 && major! % 2 === 0, `node ${major} is not a supported LTS line`).toBe(true);
    const lastFrom = instructions.lastIndexOf(froms[froms.length - 1]!);
    const users = instructions.slice(lastFrom).filter((i) => i.keyword === "USER");
    expect(users.length, "the runtime stage sets USER").toBeGreaterThan(0);
    // Numeric, so Kubernetes can verify runAsNonRoot; never uid 0.
    expect(users[users.length - 1]!.args).toMatch(/^[1-9]\d*(:\d+)?$/);
  });

  it("installs the production dependencies exactly as locked", () => {
    expect(instructions.filter((i) => i.keyword === "RUN").map((i) => i.args)).toContain("npm ci --omit=dev --no-audit --no-fund");
  });

  it("copies the sources into the build stage only: the runtime stage gets the bundle and the production dependencies", () => {
    const sources = instructions.filter((i) => i.keyword === "COPY" || i.keyword === "ADD").flatMap(contextSources);
    for (const source of sources) {
      expect(["functions/", "tools/", "shared/", "package.json", "package-lock.json"], `COPY ${source}`).toContain(source);
    }
    const lastFrom = instructions.lastIndexOf(froms[froms.length - 1]!);
    const runtimeCopies = instructions
      .slice(lastFrom)
      .filter((i) => i.keyword === "COPY")
      .map((i) => i.args);
    expect(runtimeCopies).toEqual(["package.json ./", "--from=deps /app/node_modules/ node_modules/", "--from=build /app/dist/ ./"]);
  });

  it("bundles with the command the test runs, and starts the bundle", () => {
    const target = `node${String(nodeMajor(froms[0]?.args.split(/\s+/)[0] ?? ""))}`;
    expect(text).toContain(`RUN npx esbuild ${bundleCommand('"$(cat entry)"', "dist/main.mjs", target).join(" ")}`);
    expect(instructions.find((i) => i.keyword === "CMD")?.args).toBe('["node", "--enable-source-maps", "main.mjs"]');
  });

  it("builds the image of every Deployment: image taskapp/<name>, where <name> is a function with an entry point", () => {
    const deployments = baseDeployments();
    expect(deployments.map((d) => d.metadata?.name).sort()).toEqual([...DEPLOYED_FUNCTIONS].sort());
    for (const d of deployments) {
      const name = d.metadata?.name ?? "";
      const images = (d.spec?.template?.spec?.containers ?? []).map((c) => c.image);
      // The build argument is the image's name: FUNCTION=<name> → taskapp/<name>.
      expect(images, `Deployment/${name}`).toEqual([`taskapp/${name}`]);
      expect(existsSync(join(repoRoot, "functions", name, "main.ts")), `functions/${name}/main.ts (FUNCTION=${name})`).toBe(true);
    }
  });

  it("is the build the deploy guide runs, for every deployed function", () => {
    const guide = readFileSync(join(repoRoot, "docs/deploy.md"), "utf8");
    const loop = /for f in ([a-z\- ]+); do\n\s+minikube image build --build-opt=build-arg=FUNCTION=\$f -t taskapp\/\$f:dev \.\n\s*done/.exec(guide);
    expect(loop, "docs/deploy.md builds each image with the build argument FUNCTION=$f").not.toBeNull();
    expect(loop![1]!.trim().split(/\s+/).sort()).toEqual([...DEPLOYED_FUNCTIONS].sort());
  });
});

describe.each([...DEPLOYED_FUNCTIONS, DEAD_LETTER_TOOL])("the image of %s", (fn) => {
  it("bundles: the build stage's esbuild step succeeds on the current sources, importing only production dependencies", async () => {
    const out = mkdtempSync(join(tmpdir(), `bundle-${fn}-`));
    try {
      const target = `node${String(nodeMajor(froms[0]?.args.split(/\s+/)[0] ?? "") ?? 24)}`;
      const entry = fn === DEAD_LETTER_TOOL ? DEAD_LETTER_TOOL_ENTRY : `functions/${fn}/main.ts`;
      await execFile(join(repoRoot, "node_modules/.bin/esbuild"), [...bundleCommand(entry, join(out, "main.mjs"), target), "--log-level=error"], {
        cwd: repoRoot,
      });
      expect(existsSync(join(out, "main.mjs"))).toBe(true);
      const production = Object.keys(
        (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { dependencies: Record<string, string> }).dependencies,
      );
      const imported = [...readFileSync(join(out, "main.mjs"), "utf8").matchAll(/^import .* from "([^"]+)";$/gm)]
        .map((m) => m[1]!)
        .filter((p) => !p.startsWith("node:"));
      const packageOf = (spec: string) => (spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
      expect(imported.map(packageOf).filter((p) => !production.includes(p))).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
