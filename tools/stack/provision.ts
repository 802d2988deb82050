import { execFile as execFileCb, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join, relative } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "./paths.ts";

const execFile = promisify(execFileCb);

/** The versions this project runs and tests against. */
export const KAFKA_VERSION = "4.3.1";
export const ZIPKIN_VERSION = "3.5.1";
export const DAPR_VERSION = "1.18.2";
const DAPR_SERIES = "1.18.";

/** Downloads and builds live outside the clone, so CI reruns and fresh clones reuse them. */
export const cacheRoot = (): string => process.env["TASKAPP_CACHE_DIR"] ?? join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "task-events");

export const say = (line: string) => process.stderr.write(`[provision] ${line}\n`);

export const onPath = (command: string): string | undefined => {
  for (const dir of (process.env["PATH"] ?? "").split(delimiter)) {
    const candidate = join(dir, command);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
};

export const requireTool = (command: string, fix: string): string => {
  const found = onPath(command);
  if (!found) throw new Error(`${command} not found: ${fix}`);
  return found;
};

/** Content hash of build inputs, by their path in the repo: the same in every clone. */
export const hashOfFiles = (files: string[]): string => {
  const h = createHash("sha256");
  for (const f of files) h.update(relative(repoRoot, f)).update(readFileSync(f));
  return h.digest("hex").slice(0, 12);
};

// ---------------------------------------------------------------- Kafka

const KAFKA_POM = join(repoRoot, "tools/kafka-runtime/pom.xml");

/**
 * The Kafka broker's classpath: the jars of tools/kafka-runtime/pom.xml,
 * resolved once with Maven into the cache.
 */
export const ensureKafka = async (): Promise<{ classpath: string; java: string }> => {
  const java = requireTool("java", "install JDK 17+ or set KAFKA_BROKERS to an existing broker");
  const dir = join(cacheRoot(), `kafka-${KAFKA_VERSION}-${hashOfFiles([KAFKA_POM])}`);
  const libs = join(dir, "libs");
  if (!existsSync(join(dir, ".complete"))) {
    const mvn = requireTool("mvn", "install Maven 3.8+ or set KAFKA_BROKERS to an existing broker");
    say(`resolving Apache Kafka ${KAFKA_VERSION} with Maven into ${dir} (first run only)`);
    const started = Date.now();
    const staging = `${libs}.partial`;
    rmSync(staging, { recursive: true, force: true });
    await execFile(mvn, ["-q", "-B", "-f", KAFKA_POM, "dependency:copy-dependencies", `-DoutputDirectory=${staging}`, "-DincludeScope=runtime"], {
      maxBuffer: 64 * 1024 * 1024,
    }).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`Maven could not resolve Kafka ${KAFKA_VERSION}:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
    });
    rmSync(libs, { recursive: true, force: true });
    renameSync(staging, libs);
    writeFileSync(join(dir, ".complete"), new Date().toISOString());
    say(`Kafka resolved in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  return { classpath: join(libs, "*"), java };
};

// ---------------------------------------------------------------- Zipkin

/**
 * Zipkin's server (the trace store of `npm run dev -- --tracing` and the trace test): its
 * executable jar, resolved once with Maven into the cache.
 */
export const ensureZipkin = async (): Promise<{ jar: string; java: string }> => {
  const java = requireTool("java", "install JDK 17+ (Zipkin's server runs on it)");
  const dir = join(cacheRoot(), `zipkin-${ZIPKIN_VERSION}`);
  const jar = join(dir, `zipkin-server-${ZIPKIN_VERSION}-exec.jar`);
  if (!existsSync(join(dir, ".complete"))) {
    const mvn = requireTool("mvn", "install Maven 3.8+ (it resolves Zipkin's server)");
    say(`resolving Zipkin's server ${ZIPKIN_VERSION} with Maven into ${dir} (first run only)`);
    const staging = `${dir}.partial`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(cacheRoot(), { recursive: true });
    await execFile(mvn, ["-q", "-B", "dependency:copy", `-Dartifact=io.zipkin:zipkin-server:${ZIPKIN_VERSION}:jar:exec`, `-DoutputDirectory=${staging}`], {
      cwd: cacheRoot(),
      maxBuffer: 64 * 1024 * 1024,
    }).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`Maven could not resolve Zipkin's server ${ZIPKIN_VERSION}:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
    });
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
    writeFileSync(join(dir, ".complete"), new Date().toISOString());
  }
  return { jar, java };
};

// ---------------------------------------------------------------- Dapr

export interface DaprBinaries {
  daprd: string;
  scheduler: string;
  /** Where they came from, for the start-up banner. */
  origin: string;
}

const versionOf = (binary: string): string => {
  const out = spawnSync(binary, ["--version"], { encoding: "utf8", timeout: 10_000 });
  return (out.stdout || out.stderr || "").trim();
};

/** The Dapr scheduler binary is named `scheduler` in Dapr's release archives and `~/.dapr/bin`. */
const findInstalled = (): DaprBinaries | undefined => {
  const explicitDaprd = process.env["DAPRD_PATH"];
  const explicitScheduler = process.env["DAPR_SCHEDULER_PATH"];
  if (explicitDaprd || explicitScheduler) {
    if (!explicitDaprd || !explicitScheduler) {
      throw new Error("set both DAPRD_PATH and DAPR_SCHEDULER_PATH (the Jobs API needs the scheduler), or neither");
    }
    for (const p of [explicitDaprd, explicitScheduler]) if (!existsSync(p)) throw new Error(`${p} does not exist`);
    const v = versionOf(explicitDaprd);
    if (!v.startsWith(DAPR_SERIES)) say(`warning: DAPRD_PATH is daprd ${v || "(unknown version)"}; this project is tested with ${DAPR_VERSION}`);
    return { daprd: explicitDaprd, scheduler: explicitScheduler, origin: "DAPRD_PATH" };
  }
  const candidates: [string | undefined, string | undefined, string][] = [
    [onPath("daprd"), onPath("scheduler"), "PATH"],
    [join(homedir(), ".dapr/bin/daprd"), join(homedir(), ".dapr/bin/scheduler"), "~/.dapr/bin"],
  ];
  for (const [daprd, scheduler, origin] of candidates) {
    if (!daprd || !scheduler || !existsSync(daprd) || !existsSync(scheduler)) continue;
    const v = versionOf(daprd);
    if (v.startsWith(DAPR_SERIES)) return { daprd, scheduler, origin: `${origin} (${v})` };
    say(`skipping daprd ${v || "(unknown version)"} from ${origin}: need ${DAPR_SERIES}x`);
  }
  return undefined;
};

const DAPR_BUILD = join(repoRoot, "tools/dapr-build");
const DAPR_BUILD_FILES = ["go.mod", "go.sum", "daprd/main.go", "scheduler/main.go"];

/**
 * daprd and the scheduler: an installed 1.18.x if there is one (DAPRD_PATH +
 * DAPR_SCHEDULER_PATH, PATH, ~/.dapr/bin), otherwise built once from the Go
 * module proxy with tools/dapr-build and cached.
 */
export const ensureDapr = async (): Promise<DaprBinaries> => {
  const installed = findInstalled();
  if (installed) return installed;

  const dir = join(cacheRoot(), `dapr-${DAPR_VERSION}-${hashOfFiles(DAPR_BUILD_FILES.map((f) => join(DAPR_BUILD, f)))}`);
  const daprd = join(dir, "daprd");
  const scheduler = join(dir, "scheduler");
  if (existsSync(join(dir, ".complete"))) return { daprd, scheduler, origin: `built ${DAPR_VERSION} (${dir})` };

  const go = requireTool("go", "install Go 1.26+ to build daprd, or set DAPRD_PATH and DAPR_SCHEDULER_PATH to Dapr 1.18 binaries");
  say(`building daprd and the scheduler ${DAPR_VERSION} from the Go module proxy into ${dir} (first run only, a few minutes)`);
  const started = Date.now();
  // Build from a copy in the cache: `go mod vendor` writes ~0.5 GB we do not want in the clone.
  const src = join(dir, "src");
  rmSync(src, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  for (const f of DAPR_BUILD_FILES) cpSync(join(DAPR_BUILD, f), join(src, f));
  const env = { ...process.env, CGO_ENABLED: "0", GOFLAGS: "" };
  const run = async (args: string[]) =>
    execFile(go, args, { cwd: src, env, maxBuffer: 64 * 1024 * 1024 }).catch((err: { stderr?: string }) => {
      throw new Error(`go ${args.join(" ")} failed:\n${err.stderr ?? ""}`);
    });
  await run(["mod", "vendor"]);
  // Upstream's components package panics unless built with a tag that compiles in every component;
  // our main registers the few we use, so that package is emptied in the vendored copy.
  const components = join(src, "vendor/github.com/dapr/dapr/cmd/daprd/components");
  rmSync(join(components, "zz_notag.go"));
  writeFileSync(join(components, "none.go"), "package components\n");
  const ldflags = `-s -w -X github.com/dapr/dapr/pkg/buildinfo.version=${DAPR_VERSION}`;
  await run(["build", "-mod=vendor", "-trimpath", "-ldflags", ldflags, "-o", daprd, "./daprd"]);
  await run(["build", "-mod=vendor", "-trimpath", "-ldflags", ldflags, "-o", scheduler, "./scheduler"]);
  rmSync(src, { recursive: true, force: true });
  writeFileSync(join(dir, ".complete"), new Date().toISOString());
  say(`daprd and scheduler built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { daprd, scheduler, origin: `built ${DAPR_VERSION} (${dir})` };
};

/** Everything the local stack needs, resolved or built; safe to call again (cached). */
export const provision = async (): Promise<{ kafka?: { classpath: string; java: string }; dapr: DaprBinaries }> => {
  const [kafka, dapr] = await Promise.all([process.env["KAFKA_BROKERS"] ? Promise.resolve(undefined) : ensureKafka(), ensureDapr()]);
  return kafka ? { kafka, dapr } : { dapr };
};
