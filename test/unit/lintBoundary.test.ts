// The architectural boundary is enforced by eslint: prove the rule fires on a vscode import
// in src/core (reference: ../shared/ARCHITECTURE.md, "A lint rule forbids vscode imports").
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
