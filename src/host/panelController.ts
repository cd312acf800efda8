// Connects the results panel with the rest of the host: answers the panel's commands (start,
// cancel, pickers, diffs, merge) and requests (LoadRuns, EvaluateRun), relays the live run's
// events, and keeps the form and the runs list current so a reloaded panel shows the same thing.
// What the panel sends is decoded before it gets here (ResultsPanel); run ids are turned into
// folders only by runDirOf (inside the runs folder), and a run starts only on the dataset and
// model picked through the host (the form it remembers) with the panel's parameters, and not while
// the dataset lint of the form (formLint.ts: the Configure section's summary) finds errors.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { defaultTargets, moduleNames } from '../core/lora/modules';
import type { ModelSpec } from '../core/hf/config';
import { EvaluateRun, LoadRuns, startConfig, type FormState, type PanelCommand, type RunDetail } from '../protocol/panel';
import type { LintReport } from '../protocol/lint';
import type { Rpc } from '../protocol/rpc';
import type { SessionEvent } from '../protocol/worker';
import { ResultsPanel, type PanelHost } from '../panel/resultsPanel';
import { FormLint, type PanelLint } from './formLint';
import { pickDataset, pickModel } from './pickers';
import { runDetail, runDetailAsync, runDirOf, runSummaries } from './runsModel';
import { RunCasesWatcher } from './runCases';
import { runConfigFromSettings, runsFolderSetting, workspaceFolderFor } from './settings';
import type { RunListener, TrainingController } from './trainingController';
import { runsRoot } from '../core/runs';
import { RunExamples, StepExamples } from '../protocol/examples';
import { excludeExamples, openExample, runExamplesOf, stepExamplesOf } from './examples';
import { checkDatasetFile } from '../core/data';

/** The output channel's part the panel needs: refused messages and unreadable rows go there. */
export interface PanelLog {
  warn(message: string): void;
}

/**
 * What the panel's buttons do beyond the panel: the same functions the commands run, handed in by
 * extension.ts (the host does not call back up into src/commands, nor through command-id strings).
 */
export interface PanelActions {
  /** Starts over: pick a dataset and a model, then show the form (LoRA Lab: Start Training…). */
  newRun(): Promise<void>;
  /** Evaluates a run folder again in a worker; true when eval.json was written. */
  evaluateRun(dir: string): Promise<boolean>;
  mergeRun(dir: string): Promise<boolean>;
  /** Resumes a run folder from its checkpoints/last (an interrupted, failed or cancelled run). */
  resumeRun(dir: string): Promise<void>;
  compareRuns(a: string, b: string): Promise<void>;
  openRunFolder(dir: string): Promise<void>;
}

export class PanelController implements RunListener, PanelHost {
  /** The form last shown: the dataset and model the user picked through the host. */
  private form?: FormState;
  /** The run in progress once its folder exists: told again to a panel that (re)opens during it. */
  private liveRun?: Extract<SessionEvent, { type: 'run' }>;
  /** The dataset lint of the form's dataset, as the Configure section shows it. */
  private readonly formLint: FormLint;
  /** The evals/ of the runs the panel loaded: a new case report reaches the Evaluation section as it is written. */
  private readonly cases = new RunCasesWatcher((runId, _dir, cases) => {
    const panel = ResultsPanel.current;
    if (panel) panel.post({ type: 'runCases', runId, cases });
    else this.cases.dispose();
  });

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly training: TrainingController,
    private readonly actions: PanelActions,
    private readonly log: PanelLog = { warn: () => {} },
    lint?: PanelLint,
  ) {
    this.formLint = new FormLint(lint, (state) => ResultsPanel.current?.post({ type: 'datasetLint', lint: state }));
  }

  /** Shows (or creates) the panel; `form` switches it to the configuration form. */
  show(form?: FormState): ResultsPanel {
    if (form) this.form = form;
    const panel = ResultsPanel.show(this.context.extensionUri, this);
    if (form) {
      panel.post({ type: 'showForm', form });
      this.formLint.setForm(form);
    }
    this.postRuns(panel);
    return panel;
  }

  /** A lint report of a training file (the editor lints open datasets on save): the form's dataset's goes to the Configure section. */
  onLintReport(file: string, report: LintReport): void {
    this.formLint.onReport(file, report);
  }

  revive(webviewPanel: vscode.WebviewPanel): void {
    ResultsPanel.revive(webviewPanel, this.context.extensionUri, this);
  }

  async formFor(dataset: string, model: string, spec: ModelSpec, error?: string): Promise<FormState> {
    const ws = workspaceFolderFor(dataset) ?? path.dirname(dataset);
    return {
      dataset, model, modelSpec: spec, error,
      datasetSummary: await describeDataset(dataset),
      moduleChoices: [...moduleNames(spec), 'all-linear'],
      defaultTargets: defaultTargets(spec),
      initial: runConfigFromSettings(model, dataset, ws),
    };
  }

  /** The live run's events: its folder (with the run as on disk) once it exists, then the rest. */
  onRunEvent(_runId: string | undefined, event: SessionEvent): void {
    if (event.type === 'run') this.liveRun = event; // also with no panel open: one opened later rejoins the run
    const panel = ResultsPanel.current;
    if (!panel) return;
    if (event.type !== 'run') {
      panel.post({ type: 'runEvent', event });
      return;
    }
    this.postRuns(panel, event.runId);
    this.postRunStarted(panel, event, false);
  }

  onRunEnded(): void {
    this.liveRun = undefined;
    const panel = ResultsPanel.current;
    if (panel) this.postRuns(panel);
  }

  private postRunStarted(panel: ResultsPanel, event: Extract<SessionEvent, { type: 'run' }>, rejoined: boolean): void {
    this.cases.watch(event.runId, event.dir);
    let detail: RunDetail | undefined;
    try {
      detail = runDetail(event.dir, (p) => this.log.warn(p));
    } catch (e) {
      this.log.warn(`Results panel: run ${event.runId} could not be read yet (${(e as Error).message}); the panel asks for it`);
    }
    panel.post({ type: 'runStarted', event, detail, ...(rejoined && { rejoined }) });
  }

  warn(problem: string): void {
    this.log.warn(problem);
  }

  serve(rpc: Rpc): void {
    // A long run's metrics come as a bounded view (runsModel.metricsForChart); `full` ("Load all") reads every row.
    // Read between turns of the event loop: a Load all of millions of steps takes seconds.
    rpc.handle(LoadRuns, async ({ runIds, full }) => {
      const dirs = runIds.map((id) => this.runDir(id)); // every id checked before any read
      const details: RunDetail[] = [];
      for (const dir of dirs) details.push(await runDetailAsync(dir, (p) => this.log.warn(p), { full }));
      runIds.forEach((id, i) => this.cases.watch(id, dirs[i]));
      return details;
    });
    rpc.handle(EvaluateRun, async ({ runId }) => {
      const dir = this.runDir(runId);
      await this.actions.evaluateRun(dir);
      const panel = ResultsPanel.current;
      if (panel) this.postRuns(panel);
      return runDetail(dir, (p) => this.log.warn(p)); // carries the new eval.json
    });
    // The examples of a point of the training curve, and the Examples view (host/examples.ts).
    rpc.handle(StepExamples, ({ runId, step }) => stepExamplesOf(runId, this.runDir(runId), step));
    rpc.handle(RunExamples, ({ runId, limit }) => runExamplesOf(runId, this.runDir(runId), limit));
  }

  private runsRoot(): string | undefined {
    const ws = workspaceFolderFor(this.form?.dataset);
    return ws ? runsRoot(ws, runsFolderSetting()) : undefined;
  }

  private postRuns(panel: ResultsPanel, activeRunId?: string): void {
    const root = this.runsRoot();
    if (!root) return;
    try {
      panel.post({ type: 'runs', runs: runSummaries(root).runs, activeRunId: activeRunId ?? this.training.activeRunId });
    } catch (e) {
      panel.post({ type: 'error', message: `Could not read the runs in ${root}: ${(e as Error).message}` });
    }
  }

  /** The folder of a run id the panel sent; throws (the panel shows it, the log keeps it) when it names no run in the runs folder. */
  private runDir(runId: string): string {
    const root = this.runsRoot();
    const r = root ? runDirOf(root, runId) : { error: 'no workspace folder holds a runs folder' };
    if ('error' in r) {
      this.log.warn(`Results panel: run id refused: ${r.error}`);
      throw new Error(`Run ${JSON.stringify(runId)} refused: ${r.error}.`);
    }
    return r.dir;
  }

  async onCommand(m: PanelCommand, panel: ResultsPanel): Promise<void> {
    switch (m.type) {
      case 'ready': {
        if (this.form) panel.post({ type: 'showForm', form: this.form });
        const lint = this.formLint.current();
        if (lint) panel.post({ type: 'datasetLint', lint });
        this.postRuns(panel);
        if (this.liveRun) this.postRunStarted(panel, this.liveRun, true);
        return;
      }
      case 'startTraining': {
        if (!this.form) throw new Error('Pick a dataset and a model first (LoRA Lab: Start Training).');
        const config = startConfig(this.form, m.config);
        // The button is disabled while the lint finds errors; a start that comes anyway is refused here.
        const refused = await this.formLint.refusal(config.training?.maxSeqLen);
        if (refused) {
          this.log.warn(`Results panel: ${refused}`);
          throw new Error(refused);
        }
        this.form = { ...this.form, error: undefined };
        await this.training.start(config);
        return;
      }
      case 'lintDataset':
        this.formLint.setMaxSeqLen(m.maxSeqLen);
        return;
      case 'showProblems':
        await this.formLint.showProblems();
        return;
      case 'openLocation':
        await this.formLint.open(m.file, m.line);
        return;
      case 'openExample':
        await openExample(this.runDir(m.runId), m.file, m.line);
        return;
      case 'excludeExamples':
        await excludeExamples(this.runDir(m.runId), m.lines, m.note);
        return;
      case 'cancelTraining':
        this.training.cancel();
        return;
      case 'newRun':
        await this.actions.newRun();
        return;
      case 'pickDataset': {
        if (!this.form) return;
        const dataset = await pickDataset(undefined);
        if (dataset) this.show(await this.formFor(dataset, this.form.model, this.form.modelSpec));
        return;
      }
      case 'pickModel': {
        if (!this.form) return;
        const model = await pickModel(this.context.globalState, this.context.extensionPath, workspaceFolderFor(this.form.dataset));
        if (model) this.show(await this.formFor(this.form.dataset, model.dir, model.spec));
        return;
      }
      case 'diffConfigs':
        await this.actions.compareRuns(this.runDir(m.runIds[0]), this.runDir(m.runIds[1]));
        return;
      case 'openRunFolder':
        await this.actions.openRunFolder(this.runDir(m.runId));
        return;
      case 'mergeRun':
        await this.actions.mergeRun(this.runDir(m.runId));
        this.postRuns(panel);
        return;
      case 'resumeRun':
        await this.actions.resumeRun(this.runDir(m.runId));
        return;
    }
  }
}

/** Files up to this size are read through once to show their format and row count in the form. */
const SUMMARY_MAX_BYTES = 50 * 2 ** 20;

async function describeDataset(file: string): Promise<string> {
  try {
    const size = fs.statSync(file).size;
    if (size > SUMMARY_MAX_BYTES) return `${(size / 2 ** 20).toFixed(0)} MiB; the format is detected when training starts`;
    const r = await checkDatasetFile(file);
    return `${r.format}, ${r.rows.toLocaleString('en-US')} rows${r.problems.length ? `; ${r.problems.length} problem(s), first: line ${r.problems[0].line}: ${r.problems[0].reason}` : ''}`;
  } catch (e) {
    return (e as Error).message;
  }
}
