// The engine's layout (reference: ../shared/ARCHITECTURE.md and issue 12): src/core is one folder
// per subsystem, imports only run down the layers below (LAYERS), no file-level import cycle, and
// every folder says what it owns in its first lines. Read from the sources, so a new import that
// runs back up fails here with the file and the import named.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '../../src/core');

/**
 * What each folder of src/core may import, besides itself and src/protocol (the wire types).
 * '.' is the root (session.ts, runConfig.ts, runEval.ts): it composes the subsystems.
 */
const LAYERS: Record<string, string[]> = {
  util: [],
  hf: ['util'],
  backend: ['util'],
  runs: ['util'],
  data: ['util', 'hf'],
  lora: ['util', 'hf', 'backend'],
  models: ['util', 'hf', 'backend', 'lora'],
  peft: ['util', 'hf', 'backend', 'lora', 'models'],
  train: ['util', 'hf', 'backend', 'lora', 'models', 'peft', 'data'],
  eval: ['util', 'hf', 'backend', 'lora', 'models', 'peft', 'data', 'train'],
  lint: ['util', 'hf', 'data'],
  export: ['util', 'hf', 'data'],
  '.': ['util', 'hf', 'backend', 'runs', 'data', 'lora', 'models', 'peft', 'train', 'eval', 'lint', 'export'],
};

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative import specifiers of a file: static imports/exports and dynamic import(). */
function importsOf(file: string): string[] {
  const src = fs.readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:from\s+|import\(\s*|^import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm)) out.push(m[1]);
  return out;
}

function resolve(from: string, spec: string): string | undefined {
  const base = path.resolve(path.dirname(from), spec);
  return [`${base}.ts`, path.join(base, 'index.ts')].find((c) => fs.existsSync(c));
}

/** The src/core folder a file belongs to ('.' for the root), or undefined outside src/core. */
function folderOf(file: string): string | undefined {
  const rel = path.relative(ROOT, file);
  if (rel.startsWith('..')) return undefined;
  const parts = rel.split(path.sep);
  return parts.length === 1 ? '.' : parts[0];
}

const files = tsFiles(ROOT);
const edges = files.map((f) => ({ file: f, targets: importsOf(f).map((s) => ({ spec: s, target: resolve(f, s) })) }));

describe('src/protocol', () => {
  // The wire types sit below the engine: core may import them; protocol names core's result shapes
  // (a BackendReport, a DatasetReport, …) with `import type` only — erased from every bundle, so
  // the webview, which imports protocol, never pulls engine code — and nothing else.
  it('imports nothing at run time from outside src/protocol, and only types from src/core', () => {
    const dir = path.resolve(ROOT, '../protocol');
    const bad: string[] = [];
    for (const f of tsFiles(dir)) {
      const src = fs.readFileSync(f, 'utf8');
      for (const m of src.matchAll(/^(import|export)\s+(type\s+)?[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
        const spec = m[3];
        const where = `${path.basename(f)}: ${m[0]}`;
        if (spec.startsWith('./')) continue;
        if (spec.startsWith('../core/') && m[2]) continue;
        bad.push(where);
      }
      for (const m of src.matchAll(/(?:import\(|require\()\s*['"]([^'"]+)['"]/g)) bad.push(`${path.basename(f)}: dynamic ${m[1]}`);
    }
    expect(bad).toEqual([]);
  });
});

describe('src/core layout', () => {
  it('every folder of src/core is a known layer', () => {
    const folders = fs.readdirSync(ROOT, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(folders.filter((f) => !(f in LAYERS))).toEqual([]);
  });

  it('imports resolve and only run down the layers (core never imports host, panel, worker, cli or webview)', () => {
    const bad: string[] = [];
    for (const { file, targets } of edges) {
      const from = folderOf(file)!;
      for (const { spec, target } of targets) {
        const where = `${path.relative(ROOT, file)} imports '${spec}'`;
        if (!target) {
          bad.push(`${where}: does not resolve`);
          continue;
        }
        const rel = path.relative(path.resolve(ROOT, '..'), target).split(path.sep);
        if (rel[0] === 'protocol') continue;
        const to = folderOf(target);
        if (to === undefined) bad.push(`${where}: outside src/core (${rel.join('/')})`);
        else if (to !== from && !LAYERS[from].includes(to)) bad.push(`${where}: ${from}/ may not import ${to}/`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('has no import cycle between files', () => {
    const graph = new Map(edges.map(({ file, targets }) => [file, targets.flatMap((t) => (t.target && folderOf(t.target) !== undefined ? [t.target] : []))]));
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, stack: string[]): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...stack.slice(stack.indexOf(f)), f].map((x) => path.relative(ROOT, x)).join(' → '));
        return;
      }
      state.set(f, 'open');
      for (const t of graph.get(f) ?? []) visit(t, [...stack, f]);
      state.set(f, 'done');
    };
    for (const f of graph.keys()) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('every file opens with a comment saying what it owns', () => {
    const silent = files.filter((f) => !fs.readFileSync(f, 'utf8').startsWith('//')).map((f) => path.relative(ROOT, f));
    expect(silent).toEqual([]);
  });
});
