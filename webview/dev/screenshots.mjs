// Dev only (not shipped): serves the harness (webview/dev/harness.html + dist/webview.js + the
// bundled fake host) on localhost, drives it in headless Chromium through each section, writes
// screenshots to webview/dev/screenshots/, checks keyboard use and CSP, and times 100k-point
// updates. Usage: npm run build && node webview/dev/screenshots.mjs [--chromium /usr/bin/chromium]
/* global window, document, requestAnimationFrame, MutationObserver, Event, structuredClone */
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const outDir = path.join(root, 'webview/dev/screenshots');
const argv = process.argv.slice(2);
const executablePath = argv.includes('--chromium') ? argv[argv.indexOf('--chromium') + 1] : '/usr/bin/chromium';
fs.mkdirSync(outDir, { recursive: true });

const fake = await esbuild.build({ entryPoints: [path.join(root, 'webview/dev/fakeHost.ts')], bundle: true, write: false, format: 'iife', platform: 'browser', target: 'es2022' });
const fakeJs = fake.outputFiles[0].text;
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };

const server = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/webview/dev/fakeHost.js') {
    res.writeHead(200, { 'content-type': 'text/javascript' }).end(fakeJs);
    return;
  }
  const file = path.join(root, path.normalize(url.pathname));
  const allowed = file.startsWith(path.join(root, 'dist') + path.sep) || file === path.join(root, 'webview/dev/harness.html');
  if (!allowed || !fs.existsSync(file)) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' }).end(fs.readFileSync(file));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--headless'] });
const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
const problems = [];
// (The page asks for /favicon.ico, which this server does not have: not a panel problem.)
page.on('console', (m) => (m.type() === 'error' || m.type() === 'warning') && !m.location().url.endsWith('favicon.ico') && problems.push(`console ${m.type()}: ${m.text()} ${m.location().url}`));
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

const shot = async (name) => {
  await page.waitForTimeout(350);
  await page.screenshot({ path: path.join(outDir, `${name}.png`), fullPage: true });
  console.log(`screenshot ${name}.png`);
};
const tab = (t) => page.click(`vscode-tab-header[data-tab="${t}"]`);
const row = (id) => page.locator(`tr[data-run="${id}"]`);
const saved = () => page.evaluate(() => window.__host.state());

await page.goto(`${base}/webview/dev/harness.html`);
await page.waitForSelector('#f-r');
await shot('01-configure-dark');

await page.locator('#f-r input').fill('0');
await page.locator('#f-learningRate input').fill('abc');
await page.locator('#f-layers input').fill('3, 14');
await shot('02-configure-errors');
await page.locator('#f-r input').fill('16');
await page.locator('#f-learningRate input').fill('2e-4');
await page.locator('#f-layers input').fill('');
await page.waitForTimeout(100);

// The dataset lint (issue 14): one error → the summary, ONE `file:line` link (the message without
// the path), Start disabled with the reason; the link posts openLocation; a clean re-lint enables Start.
const lintOf = (errors) => ({
  dataset: '/home/me/project/data/shakespeare.jsonl', workspace: '/home/me/project', status: 'done',
  summary: {
    files: [
      { file: '/home/me/project/data/shakespeare.jsonl', format: 'prompt-completion', rows: 4812, examples: 4812 - errors, errors, warnings: 2, duplicates: 1, leaked: 1,
        tokens: { total: 512_340, kept: 498_100, loss: 301_200, lossDropped: 80, overMaxLen: 31, lengths: { p50: 96, p90: 210, p99: 390, max: 1400 } } },
      { file: '/home/me/project/data/valid.jsonl', format: 'prompt-completion', rows: 480, examples: 480, errors: 0, warnings: 0, duplicates: 0, leaked: 0 },
    ],
    maxSeqLen: 256, model: '/home/me/models/gpt2', errors, warnings: 2, omitted: 0, seconds: 0.8,
  },
  errors: errors ? [{ file: '/home/me/project/data/shakespeare.jsonl', line: 2, code: 'syntax', message: `shakespeare.jsonl:2: bad JSON (Unexpected token 'o', "{"prompt": oops}" is not valid JSON)` }] : [],
});
await page.evaluate((lint) => window.__host.send({ type: 'datasetLint', lint }), lintOf(1));
await page.waitForSelector('.dataset-lint .lint-location');
const lintText = (await page.locator('.dataset-lint').innerText()).replace(/\s+/g, ' ');
console.log(`lint summary: ${lintText}`);
if (!/1 error · 2 warnings/.test(lintText) || (lintText.match(/shakespeare\.jsonl:2/g) ?? []).length !== 1) problems.push(`lint summary: ${lintText}`);
if (!(await page.locator('#start-training').evaluate((b) => b.disabled))) problems.push('Start is enabled while the dataset has an error');
await page.locator('.lint-location').click();
const opened = await page.evaluate(() => window.__host.posted.filter((m) => m.type === 'openLocation'));
if (JSON.stringify(opened) !== JSON.stringify([{ type: 'openLocation', file: '/home/me/project/data/shakespeare.jsonl', line: 2 }])) problems.push(`the link posted ${JSON.stringify(opened)}`);
await shot('02b-configure-lint');
await page.evaluate((lint) => window.__host.send({ type: 'datasetLint', lint }), lintOf(0));
await page.waitForTimeout(200);
if (await page.locator('#start-training').evaluate((b) => b.disabled)) problems.push('Start stays disabled after a clean lint');

await tab('runs');
await row('20250301-101500-shakespeare').click();
// Keyboard: the focused row moves with ArrowDown and Space toggles it.
await page.keyboard.press('ArrowDown');
await page.keyboard.press('Space');
await shot('03-runs');
console.log('keyboard: selection after click + ArrowDown + Space =', JSON.stringify((await saved()).selectedRunIds));

await tab('curves');
await page.waitForSelector('.chart canvas');
await shot('04-curves-two-runs');
// The compact legend: one entry per run, values at the cursor.
{
  const over = await page.locator('.chart .u-over').boundingBox();
  await page.mouse.move(over.x + over.width * 0.4, over.y + over.height / 2);
  await page.waitForTimeout(100);
  const legend = (await page.locator('.chart-legend').innerText()).replace(/\s+/g, ' ');
  console.log('legend at the cursor:', legend);
  if (!/step \d/.test(legend) || (await page.locator('.legend-run').count()) !== 2) problems.push(`legend: expected one entry per run and the cursor's step, got "${legend}"`);
  await shot('04b-curves-cursor');
  await page.mouse.move(0, 0);
}

const chooseAxis = async (label) => {
  await page.click('#x-axis');
  await page.locator('#x-axis li[role="option"]', { hasText: label }).click();
};
await chooseAxis('Tokens');
await page.click('vscode-checkbox[label="Log scale"]');
await shot('05-curves-tokens-log');
await chooseAxis('Step');
await page.click('vscode-checkbox[label="Log scale"]');

await tab('runs');
await row('20250302-093000-shakespeare').click();
await page.click('vscode-button:has-text("Show evaluation")');
await shot('06-evaluation');
await tab('runs');
await row('20250301-101500-shakespeare').click();
await row('20250302-093000-shakespeare').click();
await page.click('vscode-button:has-text("Show evaluation")');
await shot('07-evaluation-flagged');

await tab('configure');
await page.click('vscode-button:has-text("Start training")');
await page.waitForTimeout(2500);
await shot('08-live-run');
await page.click('.status-line vscode-button');
await page.waitForTimeout(300);
await shot('09-cancelled');

await page.evaluate(() => {
  document.body.className = 'vscode-light';
  document.body.dataset.vscodeThemeKind = 'vscode-light';
});
await shot('10-curves-light');
await tab('configure');
await shot('11-configure-light');
await page.evaluate(() => {
  document.body.className = 'vscode-dark';
});

// Reload: the persisted state (selection, axis, scale, smoothing, tab) comes back.
const before = await saved();
await page.reload();
await page.waitForSelector('vscode-tabs');
await page.waitForTimeout(500);
console.log('reload: persisted', JSON.stringify(before), '→ restored', JSON.stringify(await saved()));

// 100k points: select only the big run, time from the LoadRuns reply carrying it to the painted chart.
const big = '20250305-070000-bigcorpus';
await tab('runs');
for (const id of (await saved()).selectedRunIds) await row(id).click();
await tab('curves');
const load = await page.evaluate(async (id) => {
  const arrived = new Promise((resolve) => {
    window.addEventListener('message', (e) => e.data?.type === 'reply' && Array.isArray(e.data.result) && e.data.result.some((d) => d.summary.id === id) && resolve(performance.now()), true);
  });
  const chart = document.querySelector('.chart');
  const drawn = new Promise((resolve) => {
    const obs = new MutationObserver(() => {
      obs.disconnect();
      requestAnimationFrame(() => resolve(performance.now()));
    });
    obs.observe(chart, { attributes: true, attributeFilter: ['data-update-ms'] });
  });
  document.querySelector('vscode-tab-header[data-tab="runs"]').click();
  document.querySelector(`tr[data-run="${id}"]`).click();
  document.querySelector('vscode-tab-header[data-tab="curves"]').click();
  const t0 = await arrived;
  const t1 = await drawn;
  return { messageToPaintMs: t1 - t0, chartUpdateMs: Number(chart.dataset.updateMs), info: document.querySelector('.curves .hint:last-child')?.textContent };
}, big);
console.log('100k initial load:', JSON.stringify(load));
const cloneMs = await page.evaluate((id) => {
  const m = window.__host.detail(id);
  const t = performance.now();
  structuredClone(m);
  return performance.now() - t;
}, big);
console.log('of which structured clone of the 100k-row reply (postMessage cost, not panel code) ≈ ms:', cloneMs.toFixed(1));

// Live: 60 steps appended to the 100k-point run, one per frame; per-update chart time.
const liveTimes = await page.evaluate(async (id) => {
  const chart = document.querySelector('.chart');
  const times = [];
  const frames = [];
  let last = performance.now();
  // The big run becomes the live one (its rows stay); its steps then come as live events.
  window.__host.send({ type: 'runStarted', event: { type: 'run', runId: id, dir: `/x/${id}` } });
  for (let i = 1; i <= 60; i++) {
    window.__host.send({ type: 'runEvent', event: { type: 'step', step: 100_000 + i, totalSteps: 200_000, epoch: 4, loss: 1.2, lr: 1e-4, gradNorm: 1, tokens: 2000, tokensPerSec: 6000, stepMs: 16, elapsedMs: 1e6 + i } });
    await new Promise((r) => requestAnimationFrame(r));
    await new Promise((r) => requestAnimationFrame(r));
    times.push(Number(chart.dataset.updateMs));
    const now = performance.now();
    frames.push(now - last);
    last = now;
  }
  const sorted = [...times].sort((a, b) => a - b);
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return { meanMs: mean, p50: sorted[30], p95: sorted[56], max: sorted[59], meanFrameMs: frames.reduce((a, b) => a + b, 0) / frames.length / 2 };
}, big);
console.log('100k live append (chart update per step):', JSON.stringify(liveTimes));
await shot('12-curves-100k');

// Zoom: drag across a tenth of the plot; the visible range is decimated again at full detail.
const over = await page.locator('.chart .u-over').boundingBox();
await page.mouse.move(over.x + over.width * 0.45, over.y + over.height / 2);
await page.mouse.down();
await page.mouse.move(over.x + over.width * 0.55, over.y + over.height / 2, { steps: 5 });
await page.mouse.up();
await shot('13-curves-100k-zoomed');
console.log('zoomed:', await page.locator('.curves p.hint').last().textContent());
await page.mouse.dblclick(over.x + over.width / 2, over.y + over.height / 2);
await page.waitForTimeout(200);
console.log('zoom reset:', await page.locator('.curves p.hint').last().textContent());

const smoothing = await page.evaluate(async () => {
  const slider = document.querySelector('#smoothing');
  const chart = document.querySelector('.chart');
  slider.value = '0.95';
  slider.dispatchEvent(new Event('input', { bubbles: true }));
  await new Promise((r) => requestAnimationFrame(r));
  await new Promise((r) => requestAnimationFrame(r));
  return Number(chart.dataset.updateMs);
});
console.log('100k smoothing change (EMA recomputed), chart update ms:', smoothing);

const csp = await page.evaluate(() => window.__host.cspViolations);
console.log('CSP violations:', csp.length ? csp : 'none');
console.log('console/page problems:', problems.length ? problems : 'none');
await browser.close();
server.close();
