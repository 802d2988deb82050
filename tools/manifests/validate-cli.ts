/** npm run validate:manifests: renders and validates every overlay; exits 1 naming each problem. */
import { loadValidator, OVERLAYS, validateOverlay, type Overlay } from "./validate.ts";

const started = Date.now();
const validator = await loadValidator();
let failed = false;
for (const overlay of Object.keys(OVERLAYS) as Overlay[]) {
  const { objects, problems } = await validateOverlay(overlay, validator);
  if (problems.length === 0) {
    console.log(`deploy/overlays/${overlay}: ${objects.length} objects valid`);
  } else {
    failed = true;
    console.log(`deploy/overlays/${overlay}: ${problems.length} problem(s)`);
    for (const problem of problems) console.log(`  ${problem}`);
  }
}
console.log(`validated in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
