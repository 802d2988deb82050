import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../shared/kubernetes.ts";
import { renderKustomization } from "../../tools/manifests/render.ts";
import { secretsFor } from "../../tools/stack/autoscale.ts";
import { repoRoot } from "../../tools/stack/paths.ts";
import type { StackInfo } from "../../tools/stack/stack.ts";

const stack = { cosmosEndpoint: "https://127.0.0.1:8081", cosmosKey: "local-key" } as Pick<StackInfo, "cosmosEndpoint" | "cosmosKey">;
const secrets = { jwtSecret: "j".repeat(32), appToken: "t".repeat(32) };

interface EnvRef {
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
const refsOf = (objects: KubeObject[]) =>
  objects
    .filter((o) => o.kind === "Deployment")
    .flatMap((o) => (o as unknown as { spec: { template: { spec: { containers: { env?: EnvRef[] }[] } } } }).spec.template.spec.containers)
    .flatMap((c) => c.env ?? [])
    .map((e) => e.valueFrom?.secretKeyRef)
    .filter((r): r is { name: string; key: string } => r !== undefined);

describe("the local control plane's Secrets (npm run dev -- --autoscale, the autoscaling tests)", () => {
  it("exist for every Secret key a Deployment of the local overlay references, so KEDA will scale", async () => {
    const objects = await renderKustomization(join(repoRoot, "deploy/overlays/local"));
    const made = secretsFor({ ...stack } as StackInfo, secrets, objects);
    const refs = refsOf(objects);
    expect(refs.length).toBeGreaterThan(10);
    for (const ref of refs) {
      const secret = made.find((s) => s.metadata.name === ref.name) as (KubeObject & { stringData: Record<string, string> }) | undefined;
      expect(secret?.stringData[ref.key], `${ref.name}/${ref.key}`).toBeTruthy();
    }
    const cosmos = made.find((s) => s.metadata.name === "audit-service-cosmos") as KubeObject & { stringData: Record<string, string> };
    expect(cosmos.stringData).toEqual({ endpoint: stack.cosmosEndpoint, key: stack.cosmosKey });
  });

  it("stop the run on a Secret they have no value for, naming it", () => {
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "x" },
      spec: { template: { spec: { containers: [{ env: [{ name: "A", valueFrom: { secretKeyRef: { name: "webhook", key: "url" } } }] }] } } },
    };
    expect(() => secretsFor({ ...stack } as StackInfo, secrets, [deployment])).toThrow("no value for Secret webhook, key url");
  });
});
