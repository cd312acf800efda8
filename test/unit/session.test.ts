// A whole run through runSession (what `lora-lab train` and the worker drive): bad input fails
// before any model is loaded and leaves no run folder (weights refused from their safetensors
// header; a runs folder that cannot be made, before the data is read), as does a LoRA config that cannot train (an
// unmatched target, r above min(in, out)) or a run whose weights alone pass the memory limit; a run
// that cannot fit in memory stops at pre-flight naming what to lower; the run's lock is held while
// it trains and released at the end; a completed run leaves a loadable PEFT adapter and its record.
import { readOnlyMount, unmountReadOnly } from './helpers/readOnlyMount';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { writeSafetensors } from '../../src/core/hf/safetensors';
import { readPeftAdapter } from '../../src/core/peft/adapterFolder';
import { LOCK_FILE, RunDir, runLockHolder } from '../../src/core/runs';
import { runSession, type SessionEvent } from '../../src/core/session';
import { randomIds } from './helpers/randomModel';
import { cli } from './helpers/cli';
import { patchedGpt2Tiny, type HeaderEntries } from './helpers/patchedModel';

const MODEL = path.join(__dirname, '..', 'fixtures', 'gpt2-tiny');

function workspace(lines: string[]): { dir: string; data: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-session-'));
  const data = path.join(dir, 'train.jsonl');
  fs.writeFileSync(data, lines.join('\n') + '\n');
  return { dir, data };
}

async function collect(gen: AsyncGenerator<SessionEvent>): Promise<SessionEvent[]> {
  const out: SessionEvent[] = [];
  for await (const e of gen) out.push(e);
  return out;
}

afterAll(unmountReadOnly);

const goodRows = () => randomIds(24, 14, 96, 3).map((ids) => JSON.stringify({ input_ids: ids }));

describe('runSession', () => {
  it('a malformed row fails the run before the model or backend is loaded: file and line named, no run folder', async () => {
    const rows = goodRows();
    rows[4] = '{"input_ids": [1, 2,';
    const ws = workspace(rows);
    const events = await collect(runSession({ model: MODEL, data: ws.data, workspace: ws.dir }));
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status).toBe('failed');
    expect(fin.errorKind).toBe('dataset');
    expect(fin.message).toContain(`${ws.data}:5`);
    expect(events.map((e) => e.type)).not.toContain('backend');
    expect(fs.existsSync(path.join(ws.dir, '.lora-lab'))).toBe(false);
  });

  it('a folder that is not a model is reported by name, with no run folder', async () => {
    const ws = workspace(goodRows());
    const events = await collect(runSession({ model: ws.dir, data: ws.data, workspace: ws.dir }));
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status).toBe('failed');
    expect(fin.message).toMatch(/config\.json: not found/);
    expect(fs.existsSync(path.join(ws.dir, '.lora-lab'))).toBe(false);
  });

  it('weights LoRA Lab cannot train (a tensor I32) or off config.json (a shape): refused from the safetensors header, naming file and tensor, before the data is read and with no run folder', async () => {
    const cases: [(h: HeaderEntries) => void, string][] = [
      [(h) => (h['transformer.h.1.attn.c_proj.weight'].dtype = 'I32'), 'tensor "transformer.h.1.attn.c_proj.weight" is I32; LoRA Lab trains on F32, F16, BF16, F64 weights'],
      [(h) => (h['transformer.wpe.weight'].shape = [32, 64]), 'tensor "transformer.wpe.weight" has shape [32, 64], but'],
    ];
    for (const [patch, says] of cases) {
      const model = patchedGpt2Tiny(patch);
      const ws = workspace(goodRows());
      try {
        const events = await collect(runSession({ model, data: ws.data, workspace: ws.dir }));
        const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
        expect(fin).toMatchObject({ status: 'failed', errorKind: 'safetensors' });
        expect(fin.message).toContain(`${path.join(model, 'model.safetensors')}: ${says}`);
        expect(events.map((e) => e.type)).toEqual(['config', 'finished']);
        expect(fs.existsSync(path.join(ws.dir, '.lora-lab'))).toBe(false);
      } finally {
        fs.rmSync(model, { recursive: true, force: true });
      }
    }
    // The same through `lora-lab train`: exit 1 with the file and tensor, no run folder.
    const model = patchedGpt2Tiny((h) => (h['transformer.h.0.ln_1.bias'].dtype = 'U32'));
    const ws = workspace(goodRows());
    const lines: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => lines.push(String(chunk)) > 0);
    const r = await cli(['train', '--model', model, '--data', ws.data, '--workspace', ws.dir, '--json']).finally(() => write.mockRestore());
    expect(r.code).toBe(1);
    const fin = lines.map((l) => JSON.parse(l) as SessionEvent).at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.message).toContain(`${path.join(model, 'model.safetensors')}: tensor "transformer.h.0.ln_1.bias" is U32`);
    expect(fs.existsSync(path.join(ws.dir, '.lora-lab'))).toBe(false);
    fs.rmSync(model, { recursive: true, force: true });
  });

  it('a runs folder that cannot be made (a file in its path): said with the file and --runs-dir / loraLab.runsFolder before the data is read; nothing written', async () => {
    const ws = workspace(goodRows());
    const file = path.join(ws.dir, 'not-a-folder');
    fs.writeFileSync(file, 'x');
    const events = await collect(runSession({ model: MODEL, data: ws.data, workspace: ws.dir, runsDir: path.join('not-a-folder', 'runs') }));
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status).toBe('failed');
    expect(fin.message).toBe(`cannot create a run folder in ${path.join(file, 'runs')}: ${file} is a file, not a folder (ENOTDIR). Choose a writable runs folder (--runs-dir, or the loraLab.runsFolder setting), or make that folder writable.`);
    expect(events.map((e) => e.type)).toEqual(['config', 'finished']);
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
  });

  const ro = readOnlyMount(os.tmpdir());
  it.runIf(ro !== undefined)('a runs folder on a read-only file system: EROFS with the folder, not ENOENT, before the data is read', async () => {
    const ws = workspace(goodRows());
    const root = path.join(ro!, '.lora-lab', 'runs');
    const events = await collect(runSession({ model: MODEL, data: ws.data, workspace: ws.dir, runsDir: root }));
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.message).toBe(`cannot create a run folder in ${root}: the folder ${ro} is on a read-only file system (EROFS). Choose a writable runs folder (--runs-dir, or the loraLab.runsFolder setting), or make that folder writable.`);
    expect(events.map((e) => e.type)).toEqual(['config', 'finished']);
    expect(fs.readdirSync(ro!)).toEqual([]);
  });

  it('a target that matches no module and an r above min(in, out) fail before the backend is loaded, with no run folder', async () => {
    const ws = workspace(goodRows());
    const cases: [{ r?: number; targetModules: string[] }, RegExp][] = [
      [{ targetModules: ['q_proj'] }, /target module\(s\) q_proj do not exist in GPT2LMHeadModel/],
      [{ r: 33, targetModules: ['c_fc'] }, /^LoRA rank r=33 exceeds min\(in, out\)=32 of transformer\.h\.0\.mlp\.c_fc \(in 32, out 128\)/],
    ];
    for (const [lora, message] of cases) {
      const events = await collect(runSession({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', lora }));
      const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
      expect(fin).toMatchObject({ status: 'failed', errorKind: 'loraconfig' });
      expect(fin.message).toMatch(message);
      expect(fin.runDir).toBeUndefined();
      expect(events.map((e) => e.type)).toEqual(['config', 'finished']);
    }
    expect(fs.existsSync(path.join(ws.dir, '.lora-lab'))).toBe(false);
  });

  it('weights and optimizer alone over the memory limit: refused from the shapes before loading, with no run folder', async () => {
    const ws = workspace(goodRows());
    const events = await collect(runSession({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', memoryLimitBytes: 50_000 }));
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin).toMatchObject({ status: 'failed', errorKind: 'memory' });
    expect(fin.message).toMatch(/^pre-flight estimate before loading .*: tensors would hold .* Lower the batch size/);
    expect(events.map((e) => e.type)).not.toContain('run');
    expect(fs.existsSync(path.join(ws.dir, '.lora-lab'))).toBe(false);
  });

  it('pre-flight stops a run that would pass the memory limit and says which settings to lower; the run is recorded as failed', async () => {
    const ws = workspace(goodRows());
    const events = await collect(runSession({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', memoryLimitBytes: 200_000 }));
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status).toBe('failed');
    expect(fin.errorKind).toBe('memory');
    expect(fin.message).toMatch(/Lower the batch size, the max sequence length/);
    expect(events.map((e) => e.type)).not.toContain('step');
    expect(RunDir.open(fin.runDir!).record().status).toBe('failed');
  });

  it('a completed run: run.json completed with summary, metrics per step and eval, a PEFT adapter that reads back', async () => {
    const ws = workspace(goodRows());
    const events: SessionEvent[] = [];
    let holderWhileTraining: unknown;
    for await (const e of runSession({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', name: 'My experiment', training: { maxSteps: 5, batchSize: 4, evalEvery: 5, learningRate: 1e-2 } })) {
      events.push(e);
      if (e.type === 'step' && e.step === 1) holderWhileTraining = runLockHolder((events.find((x) => x.type === 'run') as Extract<SessionEvent, { type: 'run' }>).dir);
    }
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status).toBe('completed');
    expect(holderWhileTraining).toMatchObject({ pid: process.pid, job: 'training' });
    expect(fs.existsSync(path.join(fin.runDir!, LOCK_FILE))).toBe(false);
    expect(path.basename(fin.runDir!)).toMatch(/^\d{8}-\d{6}-my-experiment$/); // the run name names the folder
    const run = RunDir.open(fin.runDir!);
    const rec = run.record();
    expect(rec.status).toBe('completed');
    expect(rec.summary).toMatchObject({ finalStep: 5 });
    expect(rec.dataset.sha256).toMatch(/^[0-9a-f]{64}$/);
    const m = run.metrics();
    expect(m.filter((x) => x.type === 'step')).toHaveLength(5);
    expect(m.filter((x) => x.type === 'eval')).toHaveLength(1);
    const adapter = readPeftAdapter(run.adapterDir);
    expect(adapter.config).toMatchObject({ r: 8, loraAlpha: 16, targetModules: ['c_attn'] });
    expect([...adapter.tensors.keys()].sort()).toEqual([
      'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight', 'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight',
      'base_model.model.transformer.h.1.attn.c_attn.lora_A.weight', 'base_model.model.transformer.h.1.attn.c_attn.lora_B.weight',
    ]);
  });
});

describe('the dataset lint before a run', () => {
  it('duplicates and validation rows that are training rows are warned about (events and train.log); the run goes on', async () => {
    const rows = goodRows();
    const ws = workspace([...rows, rows[2]]);
    fs.writeFileSync(path.join(ws.dir, 'valid.jsonl'), [rows[5], JSON.stringify({ input_ids: randomIds(1, 14, 96, 99)[0] })].join('\n') + '\n');
    const events = await collect(runSession({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', training: { maxSteps: 1, batchSize: 4 } }));
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status).toBe('completed');
    const warned = events.flatMap((e) => (e.type === 'log' && e.level === 'warn' ? [e.message] : []));
    expect(warned).toContain(`dataset lint: 1 exact duplicate row: train.jsonl:25 exact duplicate of line 3: it is trained on twice as often as the other rows`);
    expect(warned.find((w) => /rows? in both the training and the validation file/.test(w))).toMatch(/^dataset lint: 1 row in both the training and the validation file: valid\.jsonl:1 this validation row is also a training row \(train\.jsonl:6\)/);
    expect(fs.readFileSync(RunDir.open(fin.runDir!).logPath, 'utf8')).toMatch(/warning: dataset lint: 1 exact duplicate row/);
  });
});

describe('cancel (one AbortSignal from the first moment to the end)', () => {
  it('an already-aborted signal: finished cancelled at once, nothing opened or written (not even a resumed run)', async () => {
    const ws = workspace(goodRows());
    const events = await collect(runSession({ model: MODEL, data: ws.data, workspace: ws.dir }, { signal: AbortSignal.abort() }));
    expect(events).toEqual([{ type: 'finished', status: 'cancelled', message: 'cancelled before it started; nothing was written' }]);
    expect(fs.existsSync(path.join(ws.dir, '.lora-lab'))).toBe(false);
    const before = fs.readdirSync(ws.dir);
    const resumed = await collect(runSession({}, { signal: AbortSignal.abort(), resumeRunDir: path.join(ws.dir, 'no-such-run') }));
    expect(resumed.at(-1)).toMatchObject({ type: 'finished', status: 'cancelled' });
    expect(fs.readdirSync(ws.dir)).toEqual(before);
  });

  it('aborted while tokenizing: cancelled naming the file and row of the rows counted, no run folder', async () => {
    const ws = workspace(randomIds(9000, 6, 96, 5).map((ids) => JSON.stringify({ input_ids: ids })));
    const abort = new AbortController();
    const events: SessionEvent[] = [];
    for await (const e of runSession({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm' }, { signal: abort.signal })) {
      events.push(e);
      if (e.type === 'phase' && e.detail?.startsWith('tokenizing')) abort.abort();
    }
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status).toBe('cancelled');
    expect(fin.message).toBe(`cancelled while tokenizing ${ws.data} (row 2,000 of 9,000); nothing was written`);
    expect(events.map((e) => e.type)).not.toContain('backend');
    expect(fs.existsSync(path.join(ws.dir, '.lora-lab'))).toBe(false);
  });

  it('aborted at pre-flight: the run folder is kept as cancelled, with no checkpoint claimed', async () => {
    const ws = workspace(goodRows());
    const abort = new AbortController();
    const events: SessionEvent[] = [];
    for await (const e of runSession({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', training: { maxSteps: 5, batchSize: 4 } }, { signal: abort.signal })) {
      events.push(e);
      if (e.type === 'phase' && e.phase === 'preflight') abort.abort();
    }
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin).toMatchObject({ status: 'cancelled', message: 'cancelled while running the pre-flight; the run folder is kept as cancelled (no checkpoint yet)' });
    const run = RunDir.open(fin.runDir!);
    expect(run.record().status).toBe('cancelled');
    expect(run.checkpointDir('last')).toBeUndefined();
    expect(fs.existsSync(path.join(fin.runDir!, LOCK_FILE))).toBe(false);
  });
});

describe('continuing a PEFT adapter', () => {
  it('initAdapter (--adapter) continues a PEFT-written adapter: the run trains it and writes an adapter with its r and alpha', async () => {
    const ws = workspace(goodRows());
    const peftDir = path.join(__dirname, '..', 'fixtures', 'gpt2-tiny', 'lora-r4-c_attn');
    const events = await collect(runSession({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', initAdapter: peftDir, training: { maxSteps: 2, batchSize: 4, evalEvery: 2 } }));
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status).toBe('completed');
    const adapter = readPeftAdapter(RunDir.open(fin.runDir!).adapterDir);
    expect(adapter.config).toMatchObject({ r: 4, loraAlpha: 8 });
    expect(events.some((e) => e.type === 'log' && e.message.includes('continuing the adapter'))).toBe(true);
  });

  /** A copy of the r=4 c_attn adapter with rank `r` and lora_A's in-features `inA` (gpt2-tiny: 32), zero weights. */
  function adapterCopy(r: number, inA = 32): string {
    const src = path.join(__dirname, '..', 'fixtures', 'gpt2-tiny', 'lora-r4-c_attn');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-session-adapter-'));
    const cfg = JSON.parse(fs.readFileSync(path.join(src, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(path.join(dir, 'adapter_config.json'), JSON.stringify({ ...cfg, r }));
    const t = (name: string, shape: number[]) => ({ name, shape, dtype: 'F32' as const, data: new Float32Array(shape[0] * shape[1]) });
    writeSafetensors(path.join(dir, 'adapter_model.safetensors'), [0, 1].flatMap((l) => [
      t(`base_model.model.transformer.h.${l}.attn.c_attn.lora_A.weight`, [r, inA]),
      t(`base_model.model.transformer.h.${l}.attn.c_attn.lora_B.weight`, [96, r]),
    ]));
    return dir;
  }

  /** The session's events for `initAdapter`: it must fail before the model is loaded and before any run folder. */
  async function refusedBeforeLoading(initAdapter: string): Promise<Extract<SessionEvent, { type: 'finished' }>> {
    const ws = workspace(goodRows());
    const events = await collect(runSession({ model: MODEL, data: ws.data, workspace: ws.dir, backend: 'wasm', initAdapter, training: { maxSteps: 2 } }));
    const fin = events.at(-1) as Extract<SessionEvent, { type: 'finished' }>;
    expect(fin.status).toBe('failed');
    expect(fin.runDir).toBeUndefined();
    expect(events.some((e) => e.type === 'phase' && e.phase === 'loading-model')).toBe(false);
    expect(events.some((e) => e.type === 'data')).toBe(false); // checked even before the dataset
    expect(fs.existsSync(path.join(ws.dir, '.lora-lab'))).toBe(false);
    return fin;
  }

  it('an adapter for a base of other dimensions is refused from its header, before the data, the model or a run folder', async () => {
    const fin = await refusedBeforeLoading(adapterCopy(4, 48));
    expect(fin.errorKind).toBe('adapter');
    expect(fin.message).toMatch(/lora_A\.weight" has shape \[4, 48\], but transformer\.h\.0\.attn\.c_attn of this base \(in 32, out 96\) needs \[4, 32\]/);
  });

  it('an adapter with r above min(in, out) of its modules is refused for training by the rank rule, naming the folder', async () => {
    const dir = adapterCopy(40);
    const fin = await refusedBeforeLoading(dir);
    expect(fin.errorKind).toBe('loraconfig');
    expect(fin.message).toBe(`${dir}: LoRA rank r=40 exceeds min(in, out)=32 of transformer.h.0.attn.c_attn (in 32, out 96): past that the update is no longer low-rank. Choose r ≤ 32, or target other modules`);
  });
});
