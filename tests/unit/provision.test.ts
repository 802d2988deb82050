import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ensureControlPlane } from "../../tools/stack/control-plane-build.ts";
import { ensureDapr, ensureKafka } from "../../tools/stack/provision.ts";
import { devPorts } from "../../tools/stack/stack.ts";

/** Runs with an empty PATH, HOME and cache: a machine with none of the prerequisites. */
const saved = { ...process.env };
let scratch: string;

beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), "provision-"));
  process.env["PATH"] = join(scratch, "bin");
  process.env["HOME"] = scratch;
  process.env["TASKAPP_CACHE_DIR"] = join(scratch, "cache");
  delete process.env["DAPRD_PATH"];
  delete process.env["DAPR_SCHEDULER_PATH"];
});

afterEach(() => {
  process.env = { ...saved };
  rmSync(scratch, { recursive: true, force: true });
});

describe("prerequisites", () => {
  it("names the fix when java is missing", async () => {
    await expect(ensureKafka()).rejects.toThrow("java not found: install JDK 17+ or set KAFKA_BROKERS to an existing broker");
  });

  it("names the fix when no daprd is installed and go is missing", async () => {
    await expect(ensureDapr()).rejects.toThrow(/^go not found: install Go .* or set DAPRD_PATH and DAPR_SCHEDULER_PATH/);
  });

  it("names the fix when the control plane is not built yet and go is missing", async () => {
    await expect(ensureControlPlane()).rejects.toThrow(/^go not found: install Go .* to build the local Kubernetes control plane/);
  });

  it("asks for both binaries when only DAPRD_PATH is set", async () => {
    process.env["DAPRD_PATH"] = "/usr/bin/true";
    await expect(ensureDapr()).rejects.toThrow(/set both DAPRD_PATH and DAPR_SCHEDULER_PATH/);
  });
});

describe("dev ports", () => {
  it("defaults to Kafka on 9092 and takes overrides from the environment", () => {
    expect(devPorts({})).toEqual({ kafka: 9092, kafkaController: 9093, scheduler: 50006, cosmos: 8081 });
    expect(devPorts({ KAFKA_PORT: "19092" }).kafka).toBe(19092);
    expect(() => devPorts({ COSMOS_PORT: "eighty" })).toThrow("COSMOS_PORT=eighty is not a port number");
  });
});
