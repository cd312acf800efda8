// VS Code's Test Explorer as the end-to-end test sees it (test (h)): the Testing view's rows with
// their result icons, expanding a row, and the case report a Test Explorer run writes into the run
// folder (<run>/evals/<name>.json), read from disk and decoded with the product's own decoder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { decodeCasesReport, type CasesReport } from '../../src/protocol/evalCases';
import { progress, runFromPalette, waitFor } from './harness';

export interface TestRow {
  label: string;
  /** From the row's result icon: passed, failed, errored, skipped, queued, running, or '' (not run). */
  state: string;
  expanded: boolean | undefined;
  level: number;
}

const ICON_STATES: [RegExp, string][] = [
  [/testing-passed/, 'passed'],
  [/testing-failed/, 'failed'],
  [/testing-error/, 'errored'],
  [/testing-skipped/, 'skipped'],
  [/testing-queued/, 'queued'],
  [/testing-loading|testing-run|codicon-loading/, 'running'],
];

/** Opens the Testing view (Test Explorer) from the Command Palette. */
export async function showTestExplorer(page: Page): Promise<void> {
  await runFromPalette(page, 'Testing: Focus on Test Explorer View', 60_000);
  await page.locator('.test-explorer .monaco-list').first().waitFor({ state: 'visible', timeout: 30_000 });
}

/** The Test Explorer's visible rows, top to bottom. */
export async function testRows(page: Page): Promise<TestRow[]> {
  const rows = page.locator('.test-explorer .monaco-list-row');
  const n = await rows.count();
  const out: TestRow[] = [];
  for (let i = 0; i < n; i++) {
    const row = rows.nth(i);
    const info = await row
      .evaluate((el) => ({
        label: (el.querySelector('.label, .monaco-icon-label .label-name') as HTMLElement | null)?.innerText ?? (el as HTMLElement).innerText,
        icons: Array.from(el.querySelectorAll('.codicon')).map((c) => c.className).join(' '),
        expanded: el.getAttribute('aria-expanded'),
        level: Number(el.getAttribute('aria-level') ?? 0),
        top: (el as HTMLElement).getBoundingClientRect().top,
      }))
      .catch(() => undefined);
    if (!info) continue;
    const state = ICON_STATES.find(([re]) => re.test(info.icons))?.[1] ?? '';
    out.push({ label: info.label.replace(/\s+/g, ' ').trim(), state, expanded: info.expanded === null ? undefined : info.expanded === 'true', level: info.level, top: info.top } as TestRow & { top: number });
  }
  return out.sort((a, b) => (a as TestRow & { top: number }).top - (b as TestRow & { top: number }).top).map(({ label, state, expanded, level }) => ({ label, state, expanded, level }));
}

/** Expands the collapsed row whose label matches (clicking its twistie). */
export async function expandTestRow(page: Page, label: RegExp): Promise<void> {
  const row = page.locator('.test-explorer .monaco-list-row').filter({ hasText: label }).first();
  if ((await row.getAttribute('aria-expanded')) === 'false') {
    await row.locator('.monaco-tl-twistie').first().click();
    await waitFor(`the test row ${label} expanded`, async () => (await row.getAttribute('aria-expanded')) === 'true', 10_000);
  }
}

/** The case report of `caseFile` in the run folder, once a run has written one after `since` (ms since epoch). */
export async function waitForCaseReport(runDir: string, caseFile: string, since: number, timeoutMs: number): Promise<{ file: string; report: CasesReport }> {
  const name = `${path.basename(caseFile).replace(/\.evals\.jsonl$/i, '')}.json`;
  const file = path.join(runDir, 'evals', name);
  return waitFor(`${path.relative(path.dirname(runDir), file)} written by the Test Explorer run`, () => {
    if (!fs.existsSync(file) || fs.statSync(file).mtimeMs < since) return undefined;
    const d = decodeCasesReport(JSON.parse(fs.readFileSync(file, 'utf8')));
    if (!d.ok) throw new Error(`${file} does not decode as a case report: ${d.error}`);
    progress(`${file}: ${d.value.outcomes.length} outcomes over ${d.value.models.map((m) => m.label).join(', ')}`);
    return { file, report: d.value };
  }, timeoutMs, 1_000);
}
