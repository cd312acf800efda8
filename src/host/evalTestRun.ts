// Running evaluation cases from the Test Explorer (issue 16): the requested items (files, cases,
// a case's model) grouped by case file, one worker `test` job per file (the engine never runs in
// the extension host), each `caseOutcome` mapped to its model item as it arrives (passed; failed
// with expected vs got, the generated text and, for `equals`, a diff; errored; skipped), each case
// passed only when all its models passed, and the pass/fail matrix in the run's output. Cancel
// stops the worker. The worker writes the report into <run>/evals/, where the results panel reads it.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { CaseOutcome, CaseStatus, EvalCase, ModelKind } from '../protocol/evalCases';
import type { WorkerJob } from '../protocol/worker';
import { WorkerClient } from '../worker/client';
import { equalsDiff, failureText, matrixLines, outcomeLine, rollup } from './evalTestText';
import { MODEL_CHILDREN, type CaseTree } from './evalTestTree';

export interface CaseRunDeps {
  ctrl: vscode.TestController;
  tree: CaseTree;
  workerScript: string;
  env: () => NodeJS.ProcessEnv;
  log: vscode.LogOutputChannel;
}

export interface CaseRunTarget {
  runDir: string;
  runLabel: string;
  /** Also every saved checkpoint of the run. */
  checkpoints: boolean;
}

interface CaseEntry {
  item: vscode.TestItem;
  case?: EvalCase;
  /** The model items asked for; undefined: every model. */
  models?: Map<string, ModelKind>;
}

/** The requested cases of one case file. */
export interface FileGroup {
  uri: vscode.Uri;
  file: vscode.TestItem;
  cases: Map<string, CaseEntry>;
}

/** The request's items (or every file), less the excluded ones, as cases grouped by file. */
export function groupRequest(deps: Pick<CaseRunDeps, 'ctrl' | 'tree'>, request: vscode.TestRunRequest): FileGroup[] {
  const { ctrl, tree } = deps;
  const excluded = new Set(request.exclude ?? []);
  const groups = new Map<string, FileGroup>();
  const add = (caseItem: vscode.TestItem, model?: { label: string; kind: ModelKind }) => {
    const d = tree.dataOf(caseItem);
    const file = caseItem.parent;
    if (d?.kind !== 'case' || !file || excluded.has(caseItem) || excluded.has(file)) return;
    const g = groups.get(file.id) ?? { uri: d.uri, file, cases: new Map<string, CaseEntry>() };
    groups.set(file.id, g);
    const entry = g.cases.get(d.case.name) ?? { item: caseItem, case: d.case, models: new Map<string, ModelKind>() };
    g.cases.set(d.case.name, entry);
    if (!model) {
      // The whole case, less any model item excluded.
      const kept = new Map<string, ModelKind>();
      let all = true;
      caseItem.children.forEach((c) => {
        const cd = tree.dataOf(c);
        if (cd?.kind !== 'model') return;
        if (excluded.has(c)) all = false;
        else kept.set(cd.model, cd.modelKind);
      });
      entry.models = all ? undefined : kept;
    } else if (entry.models) {
      entry.models.set(model.label, model.kind);
    }
  };
  const roots: vscode.TestItem[] = [];
  if (request.include) roots.push(...request.include);
  else ctrl.items.forEach((i) => roots.push(i));
  for (const item of roots) {
    if (excluded.has(item)) continue;
    const d = tree.dataOf(item);
    if (d?.kind === 'file') item.children.forEach((c) => add(c));
    else if (d?.kind === 'case') add(item);
    else if (d?.kind === 'model' && item.parent) add(item.parent, { label: d.model, kind: d.modelKind });
  }
  return [...groups.values()];
}

/** The worker job for a group: `only` when not every case of the file is asked for, `kinds` when only some models are. */
export function jobFor(g: FileGroup, target: CaseRunTarget): Extract<WorkerJob, { type: 'test' }> {
  let total = 0;
  g.file.children.forEach(() => total++);
  const entries = [...g.cases.values()];
  const only = entries.length < total ? [...g.cases.keys()] : undefined;
  const kinds = entries.every((e) => e.models) ? [...new Set(entries.flatMap((e) => [...e.models!.values()]))] : undefined;
  const checkpoints = kinds ? kinds.includes('checkpoint') : target.checkpoints;
  return { type: 'test', cases: g.uri.fsPath, runDir: target.runDir, ...(only && { only }), ...(kinds && { kinds }), ...(checkpoints && { checkpoints }) };
}

/** Test output wants CRLF line ends. */
const crlf = (s: string) => `${s.replace(/\r?\n/g, '\r\n')}\r\n`;

/** Runs the requested cases on the run's models, one case file after another; resolves when the test run has ended. */
export async function runCaseFiles(deps: CaseRunDeps, request: vscode.TestRunRequest, token: vscode.CancellationToken, target: CaseRunTarget): Promise<void> {
  const run = deps.ctrl.createTestRun(request, `LoRA Lab: ${target.runLabel}`, true);
  run.appendOutput(crlf(`Evaluation cases on run ${target.runLabel} (${target.runDir})${target.checkpoints ? ', with its checkpoints' : ''}`));
  try {
    for (const g of groupRequest(deps, request)) {
      if (token.isCancellationRequested) break;
      await runFile(deps, run, g, target, token);
    }
  } finally {
    run.end();
  }
}

async function runFile(deps: CaseRunDeps, run: vscode.TestRun, g: FileGroup, target: CaseRunTarget, token: vscode.CancellationToken): Promise<void> {
  const job = jobFor(g, target);
  const pending = new Set<vscode.TestItem>();
  for (const e of g.cases.values()) {
    pending.add(e.item);
    e.item.children.forEach((c) => {
      const cd = deps.tree.dataOf(c);
      if (cd?.kind !== 'model') return;
      const wanted = e.models ? e.models.has(cd.model) : MODEL_CHILDREN.includes(cd.modelKind) || target.checkpoints;
      if (wanted) pending.add(c);
    });
  }
  for (const i of pending) run.enqueued(i);
  const statuses = new Map<string, { status: CaseStatus; ms: number; model: string }[]>();
  const at = (line: number) => {
    const l = Math.max(0, line - 1);
    return new vscode.Location(g.uri, new vscode.Range(l, 0, l, 0));
  };
  let lastPhase = '';
  run.appendOutput(crlf(`\n${path.basename(g.uri.fsPath)}: ${g.cases.size} case${g.cases.size === 1 ? '' : 's'}${job.kinds ? ` on ${job.kinds.join(', ')}` : ''}`));
  deps.log.info(`evaluation cases: ${JSON.stringify(job)}`);

  const report = (o: CaseOutcome) => {
    const entry = g.cases.get(o.case);
    const caseItem = entry?.item ?? deps.tree.caseItem(g.file, o.case);
    if (!caseItem) return deps.log.warn(`evaluation cases: an outcome for "${o.case}", which ${g.uri.fsPath} no longer has`);
    const kind: ModelKind = (MODEL_CHILDREN as readonly string[]).includes(o.model) ? (o.model as ModelKind) : 'checkpoint';
    const item = deps.tree.modelItem(caseItem, o.model, kind);
    const ms = o.output?.ms;
    const loc = at(o.line);
    if (o.status === 'pass') run.passed(item, ms);
    else if (o.status === 'skip') run.skipped(item);
    else if (o.status === 'error') run.errored(item, located(new vscode.TestMessage(failureText(o) ?? o.error ?? 'error'), loc), ms);
    else run.failed(item, failureMessages(entry?.case, o, loc), ms);
    pending.delete(item);
    const list = statuses.get(o.case) ?? [];
    list.push({ status: o.status, ms: ms ?? 0, model: o.model });
    statuses.set(o.case, list);
    run.appendOutput(crlf(outcomeLine(o)), loc, item);
  };

  const client = new WorkerClient(deps.workerScript, job, (e) => {
    if (e.type === 'ready') for (const i of pending) run.started(i);
    else if (e.type === 'caseOutcome') report(e.outcome);
    else if (e.type === 'phase' && e.phase !== lastPhase) run.appendOutput(crlf(`… ${(lastPhase = e.phase)}${e.detail ? `: ${e.detail}` : ''}`));
    else if (e.type === 'log') run.appendOutput(crlf(`${e.level}: ${e.message}`));
    else if (e.type === 'cases') {
      run.appendOutput(crlf(['', ...matrixLines(e.report), ...(e.path ? [`report written to ${e.path}`] : [])].join('\n')));
    }
  }, { env: deps.env(), onRejected: (why) => deps.log.warn(why) });
  const sub = token.onCancellationRequested(() => client.cancel());
  const outcome = await client.done;
  sub.dispose();

  const fin = outcome.finished;
  const failure = fin?.status === 'completed' ? undefined : fin?.status === 'cancelled' ? undefined : (fin?.message ?? outcome.failure?.message ?? `the worker exited with code ${outcome.exitCode}`);
  if (failure) {
    run.appendOutput(crlf(`failed: ${failure}`));
    deps.log.error(`evaluation cases on ${g.uri.fsPath} failed: ${failure}${outcome.failure ? `\n${outcome.stderrTail}` : ''}`);
  }
  if (fin?.status === 'cancelled') run.appendOutput(crlf('cancelled'));
  // Each case: its models' states rolled up; a case without outcomes errored (the job failed) or skipped (cancelled).
  for (const [name, e] of g.cases) {
    const list = statuses.get(name) ?? [];
    const line = e.case?.line ?? 1;
    const ms = list.reduce((s, x) => s + x.ms, 0);
    if (list.length === 0) {
      if (failure) run.errored(e.item, located(new vscode.TestMessage(failure), at(line)));
      else run.skipped(e.item);
    } else {
      const state = rollup(list.map((x) => x.status));
      const bad = list.filter((x) => x.status === state).map((x) => x.model);
      if (state === 'pass') run.passed(e.item, ms);
      else if (state === 'skip') run.skipped(e.item);
      else if (state === 'error') run.errored(e.item, located(new vscode.TestMessage(`${name} could not run on ${bad.join(', ')}`), at(line)), ms);
      else run.failed(e.item, located(new vscode.TestMessage(`${name} failed on ${bad.join(', ')}`), at(line)), ms);
    }
    pending.delete(e.item);
  }
  // Models asked for that the job did not run (e.g. a run without a merged model): errored when the job failed, else skipped.
  for (const i of pending) {
    if (failure) run.errored(i, located(new vscode.TestMessage(failure), i.parent?.range ? new vscode.Location(g.uri, i.parent.range) : at(1)));
    else run.skipped(i);
  }
}

/** The messages of a failed outcome: a diff for `equals`, then the other checks and the generated text. */
function failureMessages(c: EvalCase | undefined, o: CaseOutcome, loc: vscode.Location): vscode.TestMessage[] {
  const out: vscode.TestMessage[] = [];
  const diff = equalsDiff(c, o);
  if (diff) out.push(located(vscode.TestMessage.diff(diff.message, diff.expected, diff.actual), loc));
  const text = failureText(o, diff !== undefined);
  if (text) out.push(located(new vscode.TestMessage(text), loc));
  if (out.length === 0) out.push(located(new vscode.TestMessage(`${o.case} failed on ${o.model}`), loc));
  return out;
}

function located(m: vscode.TestMessage, loc: vscode.Location): vscode.TestMessage {
  m.location = loc;
  return m;
}
