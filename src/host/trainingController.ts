// One training run at a time, driven from VS Code: forks the training worker, shows progress
// with Cancel, a status bar item (step, loss, tokens/s, ETA) that opens the panel, logs to the
// output channel, relays events to the panel, and reports the outcome (crash and OOM included).
import * as vscode from 'vscode';
import type { BackendReport } from '../core/backend';
import { backendSummary, formatBackendReport } from '../core/backend/report';
import type { RunConfigInput, SessionEvent } from '../protocol/training';
import { TrainingWorker } from './trainingWorker';

export interface RunListener {
  onRunEvent(runId: string | undefined, event: SessionEvent): void;
  onRunEnded(): void;
}

export interface TrainingHooks {
  /** The environment the worker is forked with (workerEnvironment adds the native/CUDA variables). */
  env?: () => NodeJS.ProcessEnv;
  /** Called with the worker's backend report when a run has chosen its backend. */
  onBackend?: (report: BackendReport) => void;
}

const PROGRESS_EVERY_MS = 1000; // progress notification and status bar: at most once a second

function fmtEta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const m = Math.floor(seconds / 60);
  return m ? `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s` : `${Math.round(seconds)}s`;
}

export class TrainingController implements vscode.Disposable {
  private worker?: TrainingWorker;
  private runId?: string;
  private runDir?: string;
  private readonly status: vscode.StatusBarItem;
  private listeners = new Set<RunListener>();

  constructor(
    private readonly workerScript: string,
    private readonly log: vscode.LogOutputChannel,
    private readonly hooks: TrainingHooks = {},
  ) {
    this.status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
    this.status.command = 'loraLab.showResults';
    this.status.name = 'LoRA Lab training';
  }

  get running(): boolean {
    return this.worker !== undefined;
  }

  get activeRunId(): string | undefined {
    return this.worker ? this.runId : undefined;
  }

  addListener(l: RunListener): vscode.Disposable {
    this.listeners.add(l);
    return { dispose: () => this.listeners.delete(l) };
  }

  cancel(): void {
    if (!this.worker) {
      void vscode.window.showInformationMessage('LoRA Lab: no training run is in progress.');
      return;
    }
    this.log.info('cancel requested: the run stops after the current step and saves a checkpoint');
    this.worker.cancel();
  }

  /** Starts a run; resolves when it has ended (any outcome). */
  async start(config: RunConfigInput, resumeRunDir?: string): Promise<void> {
    if (this.worker) {
      const pick = await vscode.window.showWarningMessage('LoRA Lab: a training run is already in progress.', 'Show Results', 'Cancel It');
      if (pick === 'Show Results') void vscode.commands.executeCommand('loraLab.showResults');
      if (pick === 'Cancel It') this.cancel();
      return;
    }
    this.runId = undefined;
    this.runDir = undefined;
    void vscode.commands.executeCommand('setContext', 'loraLab.training', true);
    this.status.text = '$(sync~spin) LoRA: starting…';
    this.status.tooltip = 'LoRA Lab: training is starting. Click to show results.';
    this.status.show();
    this.log.info(`starting a run: model ${config.model}, data ${config.data}`);
    let lastUi = 0;
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'LoRA Lab', cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => this.cancel());
        const worker = new TrainingWorker(this.workerScript, config, (e) => {
          if (e.type === 'ready' || e.type === 'exit') return;
          this.describe(e);
          if (e.type === 'run') {
            this.runId = e.runId;
            this.runDir = e.dir;
          }
          if (e.type === 'step' && performance.now() - lastUi > PROGRESS_EVERY_MS) {
            lastUi = performance.now();
            const eta = fmtEta(((e.totalSteps - e.step) * e.stepMs) / 1000);
            progress.report({ message: `step ${e.step}/${e.totalSteps} · loss ${e.loss.toFixed(3)} · ETA ${eta}`, increment: undefined });
            this.status.text = `$(sync~spin) LoRA ${e.step}/${e.totalSteps} · loss ${e.loss.toFixed(3)} · ${e.tokensPerSec.toFixed(0)} tok/s · ETA ${eta}`;
          } else if (e.type === 'data') progress.report({ message: 'tokenized the dataset; loading the model…' });
          else if (e.type === 'backend') this.hooks.onBackend?.(e.report);
          else if (e.type === 'preflight') progress.report({ message: `${e.totalSteps} steps, ETA ${fmtEta(e.etaSeconds)}` });
          for (const l of this.listeners) l.onRunEvent(this.runId, e);
        }, { resumeRunDir, env: this.hooks.env?.() });
        this.worker = worker;
        const outcome = await worker.done;
        this.worker = undefined;
        this.status.hide();
        void vscode.commands.executeCommand('setContext', 'loraLab.training', false);
        if (outcome.failure) {
          this.log.error(`${outcome.failure.message}\n${outcome.stderrTail}`);
          const ev: SessionEvent = { type: 'finished', status: 'failed', runDir: this.runDir, message: outcome.failure.message, errorKind: outcome.failure.kind };
          for (const l of this.listeners) l.onRunEvent(this.runId, ev);
        }
        for (const l of this.listeners) l.onRunEnded();
        void this.announce(outcome.finished ?? { type: 'finished', status: 'failed', message: outcome.failure?.message, runDir: this.runDir });
      },
    );
  }

  private async announce(fin: Extract<SessionEvent, { type: 'finished' }>): Promise<void> {
    const actions = fin.runDir ? ['Show Results', 'Open Run Folder', 'Show Log'] : ['Show Log'];
    const show = fin.status === 'failed' ? vscode.window.showErrorMessage : vscode.window.showInformationMessage;
    const text = fin.status === 'failed' ? `LoRA Lab: the run failed: ${fin.message ?? 'see the log'}` : `LoRA Lab: run ${fin.status}${fin.message ? `: ${fin.message}` : ''}.`;
    const pick = await show(text, ...actions);
    if (pick === 'Show Results') void vscode.commands.executeCommand('loraLab.showResults');
    if (pick === 'Open Run Folder' && fin.runDir) void vscode.commands.executeCommand('loraLab.openRunFolder', fin.runDir);
    if (pick === 'Show Log') this.log.show(true);
  }

  /** One log line per event worth keeping. */
  private describe(e: SessionEvent): void {
    switch (e.type) {
      case 'data':
        this.log.info(`data: ${e.train.file} (${e.train.format}) ${e.train.examples} examples, ${e.train.tokens} tokens; validation ${e.valid.examples} examples (${e.validSource})`);
        break;
      case 'backend':
        this.log.info(`backend: ${backendSummary(e.report)}\n${formatBackendReport(e.report)}`);
        break;
      case 'run':
        this.log.info(`run folder: ${e.dir}`);
        break;
      case 'preflight':
        this.log.info(`pre-flight: trainable ${e.counts.trainable} of ${e.counts.total} (${e.counts.percent.toFixed(4)}%), ~${(e.memory.totalBytes / 2 ** 20).toFixed(0)} MiB, ${e.totalSteps} steps, ETA ${fmtEta(e.etaSeconds)}`);
        break;
      case 'eval':
        this.log.info(`step ${e.step}: validation loss ${e.valLoss.toFixed(4)} (perplexity ${e.valPerplexity.toFixed(2)})${e.best ? ' best' : ''}`);
        break;
      case 'log':
        if (e.level === 'warn') this.log.warn(e.message);
        else this.log.info(e.message);
        break;
      case 'finished':
        if (e.status === 'failed') this.log.error(`run failed: ${e.message ?? ''}`);
        else this.log.info(`run ${e.status}${e.message ? `: ${e.message}` : ''}`);
        break;
      default:
        break;
    }
  }

  dispose(): void {
    this.worker?.cancel(10_000);
    this.status.dispose();
  }
}
