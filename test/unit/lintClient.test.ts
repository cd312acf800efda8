// The lint process (src/worker/lintServer.ts, bundled and forked as the extension does) through its
// client (src/host/lintClient.ts): a lint answers with the same report as lintDataset in-process, a
// hover's row comes back while a long lint is running, a newer lint of the same file supersedes
// the older (undefined, cancelled in the process), and a killed process is forked again.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lintDataset } from '../../src/core/lint/lint';
import { lintOptions } from '../../src/core/lint/context';
import { LintClient } from '../../src/host/lintClient';
import { buildWorker } from './helpers/buildWorker';

const ROOT = path.join(__dirname, '..', '..');
const MODEL = path.join(ROOT, 'samples', 'model');
const settings = { model: MODEL, maxSeqLen: 64 };

let dir: string;
let client: LintClient;
const logged: string[] = [];
beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-lint-client-'));
  client = new LintClient(await buildWorker('lintServer'), (l) => logged.push(l));
});
afterAll(() => {
  client.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

function big(name: string, rows: number): string {
  const file = path.join(dir, name);
  const lines: string[] = [];
  for (let i = 0; i < rows; i++) lines.push(JSON.stringify({ prompt: `Define: word number ${i}`, completion: ` the meaning of word ${i % 50}.` }));
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

describe('lint process', () => {
  it('answers a lint with the report lintDataset gives in-process', async () => {
    const file = path.join(ROOT, 'samples', 'datasets', 'prompt_completion.jsonl');
    const report = await client.lint(file, settings, false);
    const local = await lintDataset(file, { ...lintOptions(settings), validFile: false });
    expect(report!.diagnostics).toEqual(local.diagnostics);
    expect({ ...report!.summary, seconds: 0 }).toEqual({ ...local.summary, seconds: 0 });
  });

  it('a row for the hover is answered while a long lint runs; a newer lint of the same file supersedes the older', async () => {
    const file = big('big.jsonl', 20_000);
    const first = client.lint(file, settings, false);
    let lintDone = false;
    void first.then(() => (lintDone = true));
    const row = await client.row(file, 2, settings, JSON.stringify({ prompt: 'Define: Cat', completion: ' A small animal.' }));
    expect(row!.format).toBe('prompt-completion');
    expect(lintDone).toBe(false); // the row came back while the 20,000-row lint was still running
    const second = client.lint(file, settings, false);
    expect(await first).toBeUndefined();
    const report = await second;
    expect(report!.summary.files[0].rows).toBe(20_000);
  });

  it('a killed process is forked again on the next request; the pending request fails with a clear error', async () => {
    const file = big('big2.jsonl', 20_000);
    const pending = client.lint(file, settings, false);
    (client as unknown as { child: { kill: (s: string) => void } }).child.kill('SIGKILL');
    await expect(pending).rejects.toThrow(/the lint process exited \(SIGKILL\) before answering/);
    const again = await client.lint(path.join(ROOT, 'samples', 'datasets', 'text.jsonl'), settings, false);
    expect(again!.summary.files[0].rows).toBeGreaterThan(0);
  });
});
