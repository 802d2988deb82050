/**
 * Schemathesis, the property-based API fuzzer, pinned in tools/fuzz/requirements.txt and installed
 * once into a Python virtual environment in the cache (keyed by the requirements' hash), like the
 * Kafka and Dapr builds. Needs Python 3.10+ with venv.
 */
import { execFile as execFileCb } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { repoRoot } from "../stack/paths.ts";
import { cacheRoot, hashOfFiles, requireTool, say } from "../stack/provision.ts";

const execFile = promisify(execFileCb);
const REQUIREMENTS = join(repoRoot, "tools/fuzz/requirements.txt");

/** The `st` command of the pinned schemathesis. */
export const ensureSchemathesis = async (): Promise<string> => {
  const dir = join(cacheRoot(), `schemathesis-${hashOfFiles([REQUIREMENTS])}`);
  const st = join(dir, "bin", "st");
  if (existsSync(join(dir, ".complete"))) return st;
  const python = requireTool("python3", "install Python 3.10+ (with venv) for the API fuzz test");
  say(`installing schemathesis into ${dir} (first run only)`);
  rmSync(dir, { recursive: true, force: true });
  const run = (command: string, args: string[]) =>
    execFile(command, args, { maxBuffer: 64 * 1024 * 1024 }).catch((err: { stdout?: string; stderr?: string }) => {
      throw new Error(`${command} ${args.join(" ")} failed:\n${err.stdout ?? ""}${err.stderr ?? ""}`);
    });
  await run(python, ["-m", "venv", dir]);
  await run(join(dir, "bin", "pip"), ["install", "--quiet", "--disable-pip-version-check", "-r", REQUIREMENTS]);
  writeFileSync(join(dir, ".complete"), new Date().toISOString());
  return st;
};
