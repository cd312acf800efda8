// The architectural boundaries are enforced by eslint: prove the rules fire (references:
// ../shared/ARCHITECTURE.md, "A lint rule forbids vscode imports" and "The webview imports only
// src/protocol and pure helpers").
import { describe, expect, it } from 'vitest';
import { ESLint } from 'eslint';

describe('eslint boundary rule', () => {
  it('rejects `import * as vscode from "vscode"` in src/core', async () => {
    const eslint = new ESLint();
    const [res] = await eslint.lintText("import * as vscode from 'vscode';\nexport const x = vscode;\n", { filePath: 'src/core/leak.ts' });
    expect(res.messages.map((m) => m.ruleId)).toContain('no-restricted-imports');
  });
  it('rejects require("vscode") in webview', async () => {
    const eslint = new ESLint();
    const [res] = await eslint.lintText("export const v = require('vscode');\n", { filePath: 'webview/leak.ts' });
    expect(res.messages.map((m) => m.ruleId)).toContain('no-restricted-syntax');
  });
  it('allows vscode in src/host', async () => {
    const eslint = new ESLint();
    const [res] = await eslint.lintText("import * as vscode from 'vscode';\nexport const x = vscode;\n", { filePath: 'src/host/ok.ts' });
    expect(res.messages.filter((m) => m.ruleId === 'no-restricted-imports')).toHaveLength(0);
  });
});

describe('eslint webview import rule', () => {
  const WEBVIEW_RULE = '@typescript-eslint/no-restricted-imports';
  const lint = async (code: string, filePath = 'webview/views/leak.ts') => {
    const [res] = await new ESLint().lintText(code, { filePath });
    return res.messages.filter((m) => m.ruleId === WEBVIEW_RULE);
  };

  it('rejects a value import of the engine (src/core/session) in webview', async () => {
    const hits = await lint("import { runSession } from '../../src/core/session';\nexport const x = runSession;\n");
    expect(hits).toHaveLength(1);
    expect(hits[0].message).toMatch(/only src\/protocol/);
  });
  it('rejects host code (src/host/runsModel) and TensorFlow.js and node: built-ins in webview', async () => {
    expect(await lint("import { runDetail } from '../src/host/runsModel';\nexport const x = runDetail;\n", 'webview/leak.ts')).toHaveLength(1);
    expect(await lint("import * as tf from '@tensorflow/tfjs';\nexport const x = tf;\n")).toHaveLength(1);
    expect(await lint("import * as fs from 'node:fs';\nexport const x = fs;\n")).toHaveLength(1);
  });
  it('allows src/protocol and the listed pure helper (core/lora/config), and `import type` from the engine', async () => {
    expect(await lint("import { LoadRuns } from '../../src/protocol/panel';\nexport const x = LoadRuns;\n")).toEqual([]);
    expect(await lint("import { countParameters } from '../src/core/lora/config';\nexport const x = countParameters;\n", 'webview/formModel.ts')).toEqual([]);
    expect(await lint("import type { ModelSpec } from '../src/core/hf/config';\nexport type X = ModelSpec;\n", 'webview/formModel.ts')).toEqual([]);
  });
  it('leaves src/ alone (the host may import the engine)', async () => {
    expect(await lint("import { runDetail } from './runsModel';\nexport const x = runDetail;\n", 'src/host/ok.ts')).toEqual([]);
  });
});
