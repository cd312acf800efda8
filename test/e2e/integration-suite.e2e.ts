// The @vscode/test-electron suite (test/integration/suite), run here without downloading VS Code:
// code-server's web workbench opens an "Extension Development Host" for this repository (the
// `payload` query parameter carries extensionDevelopmentPath and extensionTestsPath, as VS Code
// for the Web does), so the suite runs in code-server's real extension host (VS Code 1.100.3).
// The suite writes its results to LORA_LAB_IT_RESULTS; its console lines are relayed here.
// Needs `tsc -p test/integration` and `npm run build` first (scripts/e2e/run.sh does both).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { makeFixture, type Fixture } from '../integration/fixture';
import { CodeServer, launchBrowser, OUTPUT, progress, ROOT, screenshot, setScreenshotPrefix, waitFor } from './harness';

setScreenshotPrefix('it-');

const CODE_SERVER = process.env.LORA_LAB_CODE_SERVER;
const SUITE = path.join(ROOT, 'out', 'integration', 'suite', 'index.js');

interface SuiteResults {
  passed: number;
  failed: number;
  results: { name: string; ok: boolean; ms: number; error?: string }[];
}

describe('the integration suite (test/integration) in code-server\'s extension host', { timeout: 15 * 60_000 }, () => {
  let fixture: Fixture | undefined;
  let server: CodeServer | undefined;
  let context: BrowserContext | undefined;
  let page: Page | undefined;

  after(async () => {
    if (page) await screenshot(page, 'integration-suite');
    server?.noteDescendants();
    await context?.close().catch(() => {});
    await server?.stop();
    if (server) progress('code-server stopped (process group and descendants)');
    server?.cleanup();
    if (fixture && !process.env.E2E_KEEP) fs.rmSync(fixture.root, { recursive: true, force: true });
  });

  it('passes', { timeout: 12 * 60_000 }, async () => {
    assert.ok(CODE_SERVER && fs.existsSync(path.join(CODE_SERVER, 'out', 'node', 'entry.js')), 'LORA_LAB_CODE_SERVER must name the code-server folder (run scripts/e2e/run.sh)');
    assert.ok(fs.existsSync(SUITE), `${SUITE} is missing: run "npx tsc -p test/integration"`);
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'extension.js')), 'dist/extension.js is missing: run "npm run build"');
    fs.mkdirSync(OUTPUT, { recursive: true });

    // The same workspace and settings that runTest.ts gives VS Code.
    fixture = makeFixture(ROOT);
    const userSettings = JSON.parse(fs.readFileSync(path.join(fixture.userData, 'User', 'settings.json'), 'utf8')) as Record<string, unknown>;
    server = new CodeServer(CODE_SERVER, { settings: userSettings, workspaceFiles: { '.': { dir: fixture.workspace } } });
    const resultsFile = path.join(server.root, 'integration-results.json');
    Object.assign(server.env, {
      LORA_LAB_IT_DATASET: path.join(server.workspace, path.relative(fixture.workspace, fixture.dataset)),
      LORA_LAB_IT_MODEL: fixture.model === 'sample' ? 'sample' : path.join(server.workspace, path.relative(fixture.workspace, fixture.model)),
      LORA_LAB_IT_RESULTS: resultsFile,
    });
    progress(`workspace ${server.workspace}; model: ${fixture.model === 'sample' ? 'the bundled sample model' : 'test/fixtures/gpt2-tiny'}`);

    const url = await server.start(path.join(OUTPUT, 'code-server-integration.log'));
    progress(`code-server is up at ${url}`);
    ({ context, page } = await launchBrowser(server.home, path.join(server.root, 'chromium')));
    page.on('console', (m) => {
      const text = m.text().replace(/^%c\s*\w+\s*color:\s*\S+\s*/, '');
      if (/^\s*(LoRA Lab integration suite|[✔✖]|\d+ passed, \d+ failed)/.test(text)) progress(`suite: ${text.split('\n')[0].trim()}`);
    });
    const authority = new URL(url).host;
    const remote = (p: string) => `vscode-remote://${authority}${p}`;
    const payload = JSON.stringify([
      ['extensionDevelopmentPath', remote(ROOT)],
      ['extensionTestsPath', remote(SUITE)],
    ]);
    await page.goto(`${url}/?folder=${encodeURIComponent(server.workspace)}&payload=${encodeURIComponent(payload)}`);
    const results = await waitFor('the suite\'s results', () => (fs.existsSync(resultsFile) ? (JSON.parse(fs.readFileSync(resultsFile, 'utf8')) as SuiteResults) : undefined), 10 * 60_000, 1_000);
    for (const r of results.results) if (!r.ok) progress(`✖ ${r.name}: ${r.error}`);
    progress(`integration suite: ${results.passed} passed, ${results.failed} failed`);
    assert.equal(results.failed, 0, results.results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.error}`).join('\n'));
    assert.ok(results.passed >= 5, 'every test of the suite ran');
  });
});
