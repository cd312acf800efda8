// The suite's entry inside VS Code's extension host (extensionTestsPath): runs the tests of
// extension.test.ts in order, prints one line per test and a closing "N passed, N failed" line, and
// rejects when any failed (VS Code then exits non-zero). A small runner of our own: no test
// framework has to be installed into the extension host.
import * as fs from 'node:fs';
import { tests } from './extension.test';

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export async function run(): Promise<void> {
  const results: { name: string; ok: boolean; ms: number; error?: string }[] = [];
  console.log('LoRA Lab integration suite');
  for (const t of tests) {
    const t0 = Date.now();
    try {
      await withTimeout(t.fn(), t.timeoutMs, t.name);
      results.push({ name: t.name, ok: true, ms: Date.now() - t0 });
      console.log(`  ✔ ${t.name} (${Date.now() - t0} ms)`);
    } catch (e) {
      const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
      results.push({ name: t.name, ok: false, ms: Date.now() - t0, error });
      console.error(`  ✖ ${t.name} (${Date.now() - t0} ms)\n    ${error.replace(/\n/g, '\n    ')}`);
    }
  }
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(`${passed} passed, ${failed} failed`);
  // Optional machine-readable results (used when the suite runs in a host whose console is not ours).
  if (process.env.LORA_LAB_IT_RESULTS) fs.writeFileSync(process.env.LORA_LAB_IT_RESULTS, JSON.stringify({ passed, failed, results }, null, 2));
  if (failed) throw new Error(`${failed} of ${results.length} integration tests failed`);
}
