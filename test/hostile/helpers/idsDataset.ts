// A small pre-tokenized training file (input_ids rows from a seeded LCG, ids 3..92 so they fit the
// tiny fixture models' vocabularies): what the config and run-lock cases train on.
import * as fs from 'node:fs';

/** Writes `rows` rows of 14 ids each to `file`; the same seed gives the same file. */
export function writeIdsDataset(file: string, seed: number, rows = 24): void {
  let s = seed;
  const out: string[] = [];
  for (let i = 0; i < rows; i++) {
    const ids: number[] = [];
    for (let j = 0; j < 14; j++) ids.push(3 + ((s = (s * 1103515245 + 12345) % 2147483648) % 90));
    out.push(JSON.stringify({ input_ids: ids }));
  }
  fs.writeFileSync(file, out.join('\n') + '\n');
}
