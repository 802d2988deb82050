/**
 * npm run validate:manifests: renders every overlay (and the optional components on one) and has
 * a real API server (with KEDA's admission webhooks) and the cross-checks validate it; exits 1
 * naming each problem.
 */
import { connectManifestServer } from "./server.ts";
import { describeTarget, loadValidator, TARGETS, validateTarget, type TargetName } from "./validate.ts";

const started = Date.now();
const server = await connectManifestServer({ log: (line) => console.log(`[control plane] ${line}`) });
let failed = false;
try {
  console.log(`API server: ${server.origin}`);
  const validator = await loadValidator(server);
  for (const name of Object.keys(TARGETS) as TargetName[]) {
    const { objects, problems } = await validateTarget(name, validator);
    const what = describeTarget(TARGETS[name]);
    if (problems.length === 0) {
      console.log(`${what}: ${objects.length} objects accepted by the API server and the cross-checks`);
    } else {
      failed = true;
      console.log(`${what}: ${problems.length} problem(s)`);
      for (const problem of problems) console.log(`  ${problem}`);
    }
  }
} finally {
  await server.stop();
}
console.log(`validated in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
