// Interop helper (run by scripts/interop_check.sh through vite-node): LoRA Lab's own logits for
// the base, the base + PEFT adapter (unmerged) and a merged model folder, on the rows of an
// input_ids .jsonl file, written as JSON for scripts/interop_check.py to compare with PyTorch.
//   npx vite-node test/interop/dump_logits.ts -- <base dir> <adapter dir> <merged dir> <data.jsonl> <out.json>
import * as fs from 'node:fs';
import { initBackend } from '../../src/core/backend';
import type { CausalLM } from '../../src/core/models/causalLm';
import { loadModel } from '../../src/core/models/load';
import { loadPeftAdapter } from '../../src/core/peft/adapterFolder';

const ROWS = 4;

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  if (args.length !== 5) throw new Error('usage: dump_logits.ts <base dir> <adapter dir> <merged dir> <data.jsonl> <out.json>');
  const [baseDir, adapterDir, mergedDir, dataFile, outFile] = args;
  await initBackend('wasm');
  const rows = fs.readFileSync(dataFile, 'utf8').split('\n').filter((l) => l.trim()).slice(0, ROWS).map((l) => (JSON.parse(l) as { input_ids: number[] }).input_ids);
  if (rows.some((r) => r.length !== rows[0].length)) throw new Error(`${dataFile}: the first ${ROWS} rows must have one length (no padding here)`);
  const logitsOf = (m: CausalLM): number[][][] => {
    const t = m.logits(rows);
    const out = t.arraySync();
    t.dispose();
    return out;
  };
  const { model } = loadModel(baseDir);
  const base = logitsOf(model);
  loadPeftAdapter(model, adapterDir);
  const adapter = logitsOf(model);
  model.dispose();
  const { model: merged } = loadModel(mergedDir);
  const mergedLogits = logitsOf(merged);
  merged.dispose();
  fs.writeFileSync(outFile, JSON.stringify({ input_ids: rows, base, adapter, merged: mergedLogits }));
}

main().catch((e: Error) => {
  console.error(`dump_logits: ${e.message}`);
  process.exit(1);
});
