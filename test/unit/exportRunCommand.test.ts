// "LoRA Lab: Export Run to Cluster…" (loraLab.exportRun) with vscode mocked as the other host tests
// mock it: a real 2-step run on test/fixtures/gpt2-tiny, the folder dialog answered, the bundle
// written where `lora-lab export --to trl` writes the same one (same file list as the CLI's
// manifest), its README shown in the Markdown preview; a cancelled dialog writes nothing; an
// earlier bundle is replaced only after "Replace"; a non-bundle folder is left alone. Reference:
// package.json contributes the command with category "LoRA Lab" (STYLE.md: every command has one).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

const h = vi.hoisted(() => ({
  ws: '',
  openDialog: [] as (string | undefined)[],
  warning: undefined as string | undefined,
  calls: [] as { kind: string; args: unknown[] }[],
}));

vi.mock('vscode', () => {
  const uri = (fsPath: string) => ({ fsPath, toString: () => `file://${fsPath}` });
  const record = (kind: string) => async (...args: unknown[]) => {
    h.calls.push({ kind, args });
    if (kind === 'warning') return h.warning;
    return undefined;
  };
  return {
    Uri: { file: uri },
    ProgressLocation: { Notification: 15 },
    window: {
      showOpenDialog: async (o: unknown) => {
        h.calls.push({ kind: 'openDialog', args: [o] });
        const next = h.openDialog.shift();
        return next === undefined ? undefined : [uri(next)];
      },
      showWarningMessage: record('warning'),
      showErrorMessage: record('error'),
      showInformationMessage: record('info'),
      showQuickPick: record('quickPick'),
      withProgress: async (_o: unknown, task: () => Promise<unknown>) => task(),
    },
    commands: { executeCommand: record('command') },
    workspace: { workspaceFolders: [{ uri: uri(h.ws) }], getConfiguration: () => ({ get: (_k: string, fallback?: unknown) => fallback }) },
  };
});

const { exportRunCommand, EXPORT_RUN_COMMAND } = await import('../../src/commands/exportRun');
const { runSession } = await import('../../src/core/session');
const { BUNDLE_MANIFEST } = await import('../../src/core/export');
const { randomIds } = await import('./helpers/randomModel');

let runDir: string;
beforeAll(async () => {
  h.ws = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-export-cmd-'));
  const data = path.join(h.ws, 'train.jsonl');
  fs.writeFileSync(data, randomIds(20, 12, 96, 4).map((ids) => JSON.stringify({ input_ids: ids })).join('\n') + '\n');
  for await (const e of runSession({ model: path.join(__dirname, '..', 'fixtures', 'gpt2-tiny'), data, workspace: h.ws, backend: 'wasm', training: { maxSteps: 2, batchSize: 4 } })) {
    if (e.type === 'finished') runDir = e.runDir!;
  }
  expect(runDir).toBeDefined();
}, 120_000);
afterAll(() => fs.rmSync(h.ws, { recursive: true, force: true }));
beforeEach(() => {
  h.calls = [];
  h.openDialog = [];
  h.warning = undefined;
});

const kinds = () => h.calls.map((c) => c.kind);

describe('LoRA Lab: Export Run to Cluster…', () => {
  it('is contributed in package.json with the LoRA Lab category', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { contributes: { commands: { command: string; title: string; category: string }[] } };
    expect(pkg.contributes.commands.find((c) => c.command === EXPORT_RUN_COMMAND)).toEqual({ command: 'loraLab.exportRun', title: 'Export Run to Cluster…', category: 'LoRA Lab' });
  });

  it('writes <folder>/<run id>-trl and shows its README in the Markdown preview', async () => {
    const parent = fs.mkdtempSync(path.join(h.ws, 'out-'));
    h.openDialog = [parent];
    const dir = await exportRunCommand(runDir);
    expect(dir).toBe(path.join(parent, `${path.basename(runDir)}-trl`));
    const manifest = JSON.parse(fs.readFileSync(path.join(dir!, BUNDLE_MANIFEST), 'utf8')) as { files: string[]; runId: string };
    expect(manifest.runId).toBe(path.basename(runDir));
    for (const f of manifest.files) expect(fs.existsSync(path.join(dir!, f))).toBe(true);
    const preview = h.calls.find((c) => c.kind === 'command')!;
    expect(preview.args[0]).toBe('markdown.showPreview');
    expect((preview.args[1] as { fsPath: string }).fsPath).toBe(path.join(dir!, 'README.md'));
    expect(kinds()).toContain('info');
    expect(kinds()).not.toContain('error');
  });

  it('a cancelled folder dialog writes nothing', async () => {
    const before = fs.readdirSync(h.ws).sort();
    expect(await exportRunCommand(runDir)).toBeUndefined();
    expect(fs.readdirSync(h.ws).sort()).toEqual(before);
    expect(kinds()).toEqual(['openDialog']);
  });

  it('replaces an earlier bundle only after "Replace"; leaves a folder that is not a bundle alone', async () => {
    const parent = fs.mkdtempSync(path.join(h.ws, 'again-'));
    h.openDialog = [parent];
    const dir = (await exportRunCommand(runDir))!;
    fs.writeFileSync(path.join(dir, 'marker'), 'earlier');
    h.openDialog = [parent];
    expect(await exportRunCommand(runDir)).toBeUndefined(); // the modal answered with Escape
    expect(fs.existsSync(path.join(dir, 'marker'))).toBe(true);
    h.openDialog = [parent];
    h.warning = 'Replace';
    expect(await exportRunCommand(runDir)).toBe(dir);
    expect(fs.existsSync(path.join(dir, 'marker'))).toBe(false);

    const other = fs.mkdtempSync(path.join(h.ws, 'other-'));
    fs.mkdirSync(path.join(other, `${path.basename(runDir)}-trl`));
    fs.writeFileSync(path.join(other, `${path.basename(runDir)}-trl`, 'notes.txt'), 'mine');
    h.calls = [];
    h.openDialog = [other];
    expect(await exportRunCommand(runDir)).toBeUndefined();
    expect(h.calls.find((c) => c.kind === 'error')?.args[0]).toMatch(/is not a LoRA Lab bundle \(no lora-lab-bundle\.json\); it is left alone/);
    expect(fs.readdirSync(path.join(other, `${path.basename(runDir)}-trl`))).toEqual(['notes.txt']);
  });
});
