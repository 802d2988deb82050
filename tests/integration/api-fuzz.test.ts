/**
 * An outside fuzzer against task-api's own OpenAPI document, on the real
 * stack: schemathesis generates requests from the document (valid and
 * invalid ones, and methods the document does not declare) and checks that
 * no answer is a server error and that every answer is one the document
 * declares, with the declared content type and body schema. Bounded in
 * examples per operation and in time.
 */
import { execFile as execFileCb } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { mintToken } from "../../functions/task-api/auth.ts";
import { Service } from "../../shared/catalog/names.ts";
import { ensureSchemathesis } from "../../tools/fuzz/provision.ts";
import { startFunction, type RunningFunction } from "../../tools/stack/functions.ts";

const execFile = promisify(execFileCb);
const stack = inject("stack");
const secret = "fuzz-secret-".padEnd(48, "x");
const reportDir = join(stack.dataDir, "artifacts", "api-fuzz");

const CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance", "unsupported_method"];

let api: RunningFunction;
let st: string;

beforeAll(async () => {
  st = await ensureSchemathesis();
  // Generous limits: the fuzzer is one user sending many writes; the limits have tests of their own.
  api = await startFunction(stack, Service.TaskApi, { env: { AUTH_JWT_SECRET: secret, WRITES_PER_USER_PER_MINUTE: "1000000", MAX_REQUESTS_IN_FLIGHT: "64" } });
  mkdirSync(reportDir, { recursive: true });
}, 300_000);
afterAll(async () => api?.stop());

interface NdjsonEvent {
  ScenarioFinished?: { recorder?: { cases?: Record<string, unknown>; checks?: Record<string, { name: string; status: string; failure_info?: unknown }[]> } };
  EngineFinished?: unknown;
}

describe("task-api under an API fuzzer", () => {
  it("answers every generated request without a server error, with a status, content type and body its OpenAPI document declares", async () => {
    const token = await mintToken(secret, "fuzzer", "1h");
    const ndjson = join(reportDir, "events.ndjson");
    const result = await execFile(
      st,
      [
        "run",
        `http://127.0.0.1:${api.publicPort}/openapi.json`,
        "--checks",
        CHECKS.join(","),
        "--max-examples",
        "25",
        "--max-time",
        "60",
        "--seed",
        "20261130",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--header",
        `Authorization: Bearer ${token}`,
        "--report",
        "ndjson,junit",
        "--report-ndjson-path",
        ndjson,
        "--report-junit-path",
        join(reportDir, "junit.xml"),
        "--no-color",
      ],
      // Its example cache goes beside the report, not into the working tree.
      { cwd: reportDir, maxBuffer: 64 * 1024 * 1024, timeout: 240_000 },
    ).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? 1, out: `${err.stdout ?? ""}${err.stderr ?? ""}` }),
    );
    const events = readFileSync(ndjson, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as NdjsonEvent);
    let requests = 0;
    const failures: string[] = [];
    for (const e of events) {
      const recorder = e.ScenarioFinished?.recorder;
      if (!recorder) continue;
      requests += Object.keys(recorder.cases ?? {}).length;
      for (const checks of Object.values(recorder.checks ?? {})) {
        for (const check of checks)
          if (check.status.toLowerCase() === "failure") failures.push(`${check.name}: ${JSON.stringify(check.failure_info).slice(0, 400)}`);
      }
    }
    console.log(`[api fuzz] ${requests} generated requests, ${failures.length} failed checks; report in ${reportDir}`);
    expect(requests).toBeGreaterThan(200);
    expect(failures, result.out.slice(-4_000)).toEqual([]);
    expect(result.code, result.out.slice(-4_000)).toBe(0);
  }, 300_000);
});
