// The panel's bundle (dist/webview.js) holds only browser code: esbuild's own list of what it
// pulled in has webview/, src/protocol/ and the pure helpers the lint rule allows (reference:
// ../shared/ARCHITECTURE.md, "The webview imports only src/protocol and pure helpers"), and no
// Node built-in or TensorFlow.js (the lint rule checks direct imports; this checks them all).
import * as esbuild from 'esbuild';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..', '..');
/** The allowed helpers and what they import in turn (core/lora/config → core/lora/modules). */
const PURE = ['src/core/lora/config.ts', 'src/core/lora/modules.ts'];

describe('webview bundle', () => {
  it('pulls in only webview/, src/protocol/, the pure LoRA helpers and browser packages', async () => {
    const r = await esbuild.build({
      entryPoints: [path.join(ROOT, 'webview/main.ts')], bundle: true, write: false, metafile: true, platform: 'browser', format: 'iife', target: 'es2022',
      outdir: path.join(ROOT, 'out-bundle-test'), logLevel: 'silent',
    });
    const inputs = Object.keys(r.metafile.inputs).map((p) => path.relative(ROOT, path.resolve(ROOT, p)).split(path.sep).join('/'));
    const ours = inputs.filter((p) => !p.startsWith('node_modules/'));
    expect(ours.filter((p) => !(p.startsWith('webview/') || p.startsWith('src/protocol/') || PURE.includes(p)))).toEqual([]);
    expect(inputs.filter((p) => /node_modules\/@tensorflow\//.test(p) || p.startsWith('node:'))).toEqual([]);
    expect(ours).toContain('src/protocol/rpc.ts');
  }, 30_000);
});
