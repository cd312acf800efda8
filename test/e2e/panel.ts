// The results panel as the end-to-end test sees it: its text, its tabs, the loss chart's pixels.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Page } from 'playwright-core';
import { progress, screenshot, waitFor, webviewContent } from './harness';
import type { RunInfo } from './workspace';

// --- The results panel ---------------------------------------------------------------------------
/** The panel's visible text, whitespace collapsed. */
export async function panelText(page: Page): Promise<string> {
  return ((await webviewContent(page).locator('body').innerText({ timeout: 5_000 })) ?? '').replace(/\s+/g, ' ').trim();
}

/** Opens a section of the panel by its tab label, when the panel has such tabs. */
async function openPanelTab(page: Page, label: RegExp): Promise<boolean> {
  const tab = webviewContent(page).locator('vscode-tab-header, [role=tab]').filter({ hasText: label }).first();
  if (!(await tab.count())) return false;
  await tab.click();
  return true;
}

/** The Configure section's dataset lint (webview/views/configureView.ts), as shown: its text, its `file:line` links, and Start. */
export interface ConfigureLint {
  text: string;
  /** The counts line: "1 error · 2 warnings", "no problems". */
  counts: string;
  links: string[];
  startDisabled: boolean;
  /** Why Start is disabled (its tooltip), if it is. */
  startTitle: string;
}

/** Opens the Configure section and reads its dataset lint (empty text while there is none). */
export async function configureLint(page: Page): Promise<ConfigureLint> {
  await openPanelTab(page, /^\s*Configure/);
  const view = webviewContent(page);
  const text = async (sel: string) => ((await view.locator(sel).first().innerText({ timeout: 1_000 }).catch(() => '')) ?? '').replace(/\s+/g, ' ').trim();
  const links = view.locator('.dataset-lint .lint-location');
  const n = await links.count();
  const start = view.locator('#start-training').first();
  return {
    text: await text('.dataset-lint'),
    counts: await text('.dataset-lint .lint-counts'),
    links: await Promise.all(Array.from({ length: n }, async (_, i) => ((await links.nth(i).innerText()) ?? '').trim())),
    startDisabled: (await start.getAttribute('disabled', { timeout: 1_000 }).catch(() => null)) !== null,
    startTitle: (await start.getAttribute('title', { timeout: 1_000 }).catch(() => null)) ?? '',
  };
}

/** Clicks the Configure section's `file:line` link with this text. */
export async function clickLintLink(page: Page, text: string): Promise<void> {
  await webviewContent(page).locator('.dataset-lint .lint-location').filter({ hasText: text }).first().click();
}

/** The loss chart is drawn, the Runs section lists the run, and the Evaluation section is shown if it has a table. */
export async function checkResultsPanel(page: Page, run: RunInfo): Promise<void> {
  await waitFor('the LoRA Lab results panel tab', () => page.locator('.tabs-container .tab').filter({ hasText: 'LoRA Lab' }).first().isVisible(), 30_000);
  const view = webviewContent(page);
  await waitFor('the results panel content', async () => (await panelText(page)).length > 0, 60_000);
  progress(`panel: ${(await panelText(page)).slice(0, 240)}`);
  await openPanelTab(page, /^\s*Loss curves/);

  // The loss chart: a canvas of some size with drawn pixels (uPlot draws axes, grid and the series on it).
  let painted: number;
  try {
    const canvas = await waitFor('a loss chart (canvas) in the panel', async () => {
      const canvases = view.locator('canvas');
      const n = await canvases.count();
      for (let i = 0; i < n; i++) {
        const box = await canvases.nth(i).boundingBox();
        if (box && box.width > 50 && box.height > 50) return canvases.nth(i);
      }
      return undefined;
    }, 60_000);
    painted = await waitFor('the loss chart to be drawn', async () => {
      const n = await canvas.evaluate((c: HTMLCanvasElement) => {
        const ctx = c.getContext('2d');
        if (!ctx || !c.width || !c.height) return 0;
        const data = ctx.getImageData(0, 0, c.width, c.height).data;
        let count = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) count++;
        return count;
      });
      return n > 500 ? n : undefined;
    }, 30_000);
  } catch (e) {
    throw new Error(`${(e as Error).message}; the panel shows: "${(await panelText(page).catch(() => '')).slice(0, 600)}"`);
  }
  const points = /([\d,]+) points?/.exec(await panelText(page))?.[1];
  progress(`loss chart: ${painted} painted pixels${points ? `, ${points} points` : ''}`);
  await screenshot(page, 'results-loss-curves');

  // The run in the Runs section (or, in a panel without sections, anywhere in its text).
  if (await openPanelTab(page, /^\s*Runs/)) {
    const row = await waitFor(`run ${run.id} in the Runs section`, async () => {
      // Visible rows only: the (hidden) Loss curves section has tables that name the run too.
      const rows = view.locator('table tr').filter({ hasText: run.id, visible: true });
      return (await rows.count()) ? rows.first() : undefined;
    }, 30_000);
    const text = ((await row.innerText()) ?? '').replace(/\s+/g, ' ').trim();
    progress(`Runs section: ${text}`);
    assert.match(text, /completed/i, 'the Runs section shows the run as completed');
    await screenshot(page, 'results-runs');
  } else {
    await waitFor(`run ${run.id} listed in the panel`, async () => (await panelText(page)).includes(run.id), 30_000);
  }

  // The evaluation, when the panel has one for this run (eval.json is written by "Evaluate").
  if (await openPanelTab(page, /^\s*Evaluation/)) {
    await sleep(500);
    const tables = view.locator('section[aria-label="Evaluation"] table, .eval-table');
    const n = await tables.count();
    if (n) progress(`Evaluation section: ${n} table(s): ${((await tables.first().innerText()) ?? '').replace(/\s+/g, ' ').slice(0, 200)}`);
    else progress(`Evaluation section (no table): ${(await panelText(page)).replace(/^.*?Runs( \(\d+\))?/, '').slice(0, 200)}`);
    await screenshot(page, 'results-evaluation');
  }
  await openPanelTab(page, /^\s*Loss curves/);
}


// --- The loss chart linked to the data (webview/views/curveExamples.ts) ---------------------------
/**
 * Opens Loss curves and clicks a point of the training curve: the plot area (`.u-over`) carries the
 * CSS-pixel position of one training point (data-probe-step/-x/-y, the middle step shown of the
 * first run drawn); the click lands there. Returns the step clicked.
 */
export async function clickTrainingStep(page: Page): Promise<number> {
  await openPanelTab(page, /^\s*Loss curves/);
  const over = webviewContent(page).locator('section.curves .u-over').first();
  const probe = await waitFor('a training point on the loss chart (data-probe-step on .u-over)', async () => {
    const [step, x, y] = await Promise.all(['data-probe-step', 'data-probe-x', 'data-probe-y'].map((a) => over.getAttribute(a, { timeout: 1_000 }).catch(() => null)));
    return step && x && y ? { step: Number(step), x: Number(x), y: Number(y) } : undefined;
  }, 60_000);
  await over.click({ position: { x: probe.x, y: probe.y } });
  return probe.step;
}

/** The step examples list (views/stepExamplesView.ts) once the host answered: its heading and its `file:line` links. */
export async function stepExamplesList(page: Page): Promise<{ step: number; heading: string; links: string[] }> {
  const list = webviewContent(page).locator('section.step-examples[data-ready]').first();
  await list.waitFor({ state: 'visible', timeout: 60_000 });
  const heading = ((await list.locator('h3').first().innerText()) ?? '').replace(/\s+/g, ' ').trim();
  const links = list.locator('a.example-link');
  const n = await links.count();
  return {
    step: Number(await list.getAttribute('data-step')),
    heading,
    links: await Promise.all(Array.from({ length: n }, async (_, i) => ((await links.nth(i).innerText()) ?? '').trim())),
  };
}

/** Clicks the i-th `file:line` link of the step examples list. */
export async function clickStepExample(page: Page, i = 0): Promise<void> {
  await webviewContent(page).locator('section.step-examples a.example-link').nth(i).click();
}

// --- Evaluation cases (webview/views/casesMatrix.ts) ----------------------------------------------
/** The Evaluation section's matrix of `caseFile` once shown: its header line and each cell's aria-label ("<case>, line N, on adapter: passed"). */
export async function casesMatrix(page: Page, caseFile: string): Promise<{ head: string; cells: string[] }> {
  await openPanelTab(page, /^\s*Evaluation/);
  const view = webviewContent(page);
  const report = await waitFor(`the evaluation cases matrix of ${caseFile} in the Evaluation section`, async () => {
    const r = view.locator('.cases-report').filter({ hasText: caseFile, visible: true }).first();
    return (await r.count()) ? r : undefined;
  }, 60_000);
  const head = ((await report.locator('.cases-head').first().innerText()) ?? '').replace(/\s+/g, ' ').trim();
  const cells = report.locator('td.case-cell');
  const n = await cells.count();
  return { head, cells: await Promise.all(Array.from({ length: n }, async (_, i) => (await cells.nth(i).getAttribute('aria-label')) ?? '')) };
}

/** Focuses the matrix cell whose aria-label matches and presses Enter: the cell's detail (checks, output) as shown. */
export async function expandCaseCell(page: Page, label: RegExp): Promise<string> {
  const view = webviewContent(page);
  const cells = view.locator('td.case-cell');
  const n = await cells.count();
  let target: ReturnType<typeof cells.nth> | undefined;
  for (let i = 0; i < n && !target; i++) if (label.test((await cells.nth(i).getAttribute('aria-label')) ?? '')) target = cells.nth(i);
  if (!target) throw new Error(`no matrix cell labelled ${label} among ${n}`);
  await target.focus();
  await target.press('Enter');
  const detail = view.locator('.case-detail').first();
  await detail.waitFor({ state: 'visible', timeout: 10_000 });
  return ((await detail.innerText()) ?? '').replace(/\s+/g, ' ').trim();
}

// --- The Configure form's controls (webview/views/configureView.ts: each control has id f-<field>) ---
/** Ticks (or unticks) the Configure form's checkbox for `field` by clicking it, as a user does; returns its state after. */
export async function setFormCheckbox(page: Page, field: string, checked: boolean): Promise<boolean> {
  const box = webviewContent(page).locator(`#f-${field}`).first();
  const state = async () => (await box.evaluate((el) => (el as unknown as { checked: boolean }).checked));
  if ((await state()) !== checked) await box.click();
  await waitFor(`the ${field} checkbox ${checked ? 'ticked' : 'cleared'}`, async () => ((await state()) === checked ? true : undefined), 10_000);
  return state();
}

/** Opens the Configure form's menu for `field` and clicks the option `value`; returns the menu's value after. */
export async function chooseFormOption(page: Page, field: string, value: string): Promise<string> {
  const view = webviewContent(page);
  const select = view.locator(`#f-${field}`).first();
  // The menu opens below the box: with the box near the window's bottom its options would sit under the status bar.
  await select.evaluate((el) => el.scrollIntoView({ block: 'center' }));
  await select.click();
  await view.locator(`#f-${field} li[role=option]`).filter({ hasText: new RegExp(`^\\s*${value}\\s*$`) }).first().click();
  return waitFor(`the ${field} menu showing ${value}`, async () => {
    const v = await select.evaluate((el) => (el as unknown as { value: string }).value);
    return v === value ? v : undefined;
  }, 10_000);
}

/** The Configure form's parameter preview (the count, the per-kind table, PEFT's line), whitespace collapsed. */
export async function formParamsText(page: Page): Promise<string> {
  return ((await webviewContent(page).locator('.params').first().innerText({ timeout: 5_000 })) ?? '').replace(/\s+/g, ' ').trim();
}

/** The help line under a Configure form field. */
export async function formFieldHelp(page: Page, field: string): Promise<string> {
  const el = webviewContent(page).locator(`#f-${field}`).first().locator('xpath=ancestor::div[contains(@class, "field")][1]').locator('.field-help').first();
  return ((await el.innerText({ timeout: 5_000 })) ?? '').replace(/\s+/g, ' ').trim();
}

/** Opens the results panel's Configure section and waits for its form. */
export async function openConfigureForm(page: Page): Promise<void> {
  await waitFor('the Configure form', async () => {
    await openPanelTab(page, /^\s*Configure/);
    return (await webviewContent(page).locator('#f-useDora').first().isVisible().catch(() => false)) ? true : undefined;
  }, 120_000, 1_000);
}

/** Types into the Configure form's text box for `field` (replacing its text). */
export async function typeFormText(page: Page, field: string, text: string): Promise<void> {
  const input = webviewContent(page).locator(`#f-${field} input`).first();
  await input.click();
  await input.press('Control+A');
  await input.pressSequentially(text, { delay: 20 });
}

/** The error shown under a Configure form field ('' when none). */
export async function formFieldError(page: Page, field: string): Promise<string> {
  return ((await webviewContent(page).locator(`#f-${field}-error`).first().innerText({ timeout: 2_000 }).catch(() => '')) ?? '').trim();
}

/** Clicks Start training in the Configure section. */
export async function clickStartTraining(page: Page): Promise<void> {
  await webviewContent(page).locator('#start-training').first().click();
}
