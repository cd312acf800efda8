// The host's jobs in the worker (src/worker/client.ts), driven from VS Code. One training run at a
// time: progress with Cancel, a status bar item that opens the panel, the output channel, events
// relayed to the panel, the outcome announced (crash and OOM included). Evaluate and merge jobs:
// progress with Cancel and the log. Every surface tells progress through one narrator
// (src/protocol/progress.ts): the same phase, n/N and ETA in the status bar, the notification and
// the panel. The run's identity lives in the worker client; this reads it from there.
import * as vscode from 'vscode';
import type { BackendReport } from '../core/backend';
import { backendSummary, formatBackendReport } from '../core/backend/report';
import { Narrator, type NarratedEvent } from '../protocol/progress';
import type { FromWorker, RunConfigInput, SessionEvent, WorkerJob } from '../protocol/worker';
import { WorkerClient, type FinishedEvent, type WorkerOutcome } from '../worker/client';

export interface RunListener {
  onRunEvent(runId: string | undefined, event: SessionEvent): void;
  onRunEnded(): void;
}

export interface TrainingHooks {
  /** The environment the worker is forked with (workerEnvironment adds the native/CUDA variables). */
  env?: () => NodeJS.ProcessEnv;
  /** Called with the worker's backend report when a run has chosen its backend. */
  onBackend?: (report: BackendReport) => void;
  /** Opens the results panel (the "Show Results" buttons). */
  showResults?: () => void;
  /** Reveals a run folder (the "Open Run Folder" button). */
  openRunFolder?: (dir: string) => void;
}

/** What an evaluate or merge job left: its outcome, and the events that carry its result. */
export interface JobResult {
  outcome: WorkerOutcome;
  evaluation?: Extract<FromWorker, { type: 'evaluation' }>;
  merged?: Extract<FromWorker, { type: 'merged' }>;
}

const PROGRESS_EVERY_MS = 1000; // progress notification and status bar: at most once a second, and at each new phase

/**
 * Narrates one job's events: log lines to the output channel, the status (phase, n/N, ETA) to
 * `show` at most once a second and whenever the phase changes.
 */
class JobNarration {
  readonly narrator = new Narrator();
  private lastUi = 0;
  private lastPhase = '';

  constructor(
    private readonly log: vscode.LogOutputChannel,
    private readonly show: (status: string) => void,
    /** The output channel's own wording for some events (the whole backend report); the narrator's for the rest. */
    private readonly wording: (e: NarratedEvent) => string[] | undefined = () => undefined,
  ) {}

  tell(e: NarratedEvent): void {
    const told = this.narrator.tell(e);
    for (const line of this.wording(e) ?? told) {
      if (e.type === 'finished' && e.status === 'failed') this.log.error(line);
      else if (e.type === 'log' && e.level === 'warn') this.log.warn(line);
      else this.log.info(line);
    }
    const p = this.narrator.progress;
    const newPhase = p.phase !== this.lastPhase;
    // A phase's start is worth a line: the log then says how long pre-flight, evaluation or generation took.
    if (e.type === 'phase' && newPhase) this.log.info(`phase    ${this.narrator.status({ short: true })}`);
    if (newPhase || performance.now() - this.lastUi > PROGRESS_EVERY_MS) {
      this.lastUi = performance.now();
      this.lastPhase = p.phase;
      this.show(this.narrator.status());
    }
  }
}

export class TrainingController implements vscode.Disposable {
  private worker?: WorkerClient;
  private readonly jobs = new Set<WorkerClient>();
  private readonly status: vscode.StatusBarItem;
  private listeners = new Set<RunListener>();

  constructor(
    private readonly workerScript: string,
    readonly log: vscode.LogOutputChannel,
    private readonly hooks: TrainingHooks = {},
  ) {
    this.status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
    this.status.command = 'loraLab.showResults'; // a status bar item's click is a command
    this.status.name = 'LoRA Lab training';
  }

  get running(): boolean {
    return this.worker !== undefined;
  }

  /** The run in progress, once its folder exists. */
  get activeRunId(): string | undefined {
    return this.worker?.run?.runId;
  }

  addListener(l: RunListener): vscode.Disposable {
    this.listeners.add(l);
    return { dispose: () => this.listeners.delete(l) };
  }

  showResults(): void {
    this.hooks.showResults?.();
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
      if (pick === 'Show Results') this.showResults();
      if (pick === 'Cancel It') this.cancel();
      return;
    }
    void vscode.commands.executeCommand('setContext', 'loraLab.training', true);
    this.status.text = '$(sync~spin) LoRA: starting…';
    this.status.tooltip = 'LoRA Lab: training is starting. Click to show results.';
    this.status.show();
    this.log.info(`starting a run: model ${config.model}, data ${config.data}`);
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'LoRA Lab', cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => this.cancel());
        const narration = new JobNarration(this.log, (status) => {
          progress.report({ message: status });
          this.status.text = `$(sync~spin) LoRA ${status}`;
          this.status.tooltip = `LoRA Lab: ${status}. Click to show results.`;
        }, (e) => (e.type === 'backend' ? [`backend  ${backendSummary(e.report)}\n${formatBackendReport(e.report)}`] : undefined));
        const worker = new WorkerClient(this.workerScript, { type: 'train', config, resumeRunDir }, (e) => {
          if (e.type === 'ready' || e.type === 'exit' || e.type === 'merged' || e.type === 'caseOutcome' || e.type === 'cases') return;
          narration.tell(e);
          if (e.type === 'backend') this.hooks.onBackend?.(e.report);
          for (const l of this.listeners) l.onRunEvent(this.worker?.run?.runId, e);
        }, { env: this.hooks.env?.(), onRejected: (why) => this.log.warn(why) });
        this.worker = worker;
        const outcome = await worker.done;
        this.worker = undefined;
        this.status.hide();
        void vscode.commands.executeCommand('setContext', 'loraLab.training', false);
        if (outcome.failure) {
          this.log.error(`${outcome.failure.message}\n${outcome.stderrTail}`);
          const ev: SessionEvent = { type: 'finished', status: 'failed', runDir: outcome.run?.dir, message: outcome.failure.message, errorKind: outcome.failure.kind };
          for (const l of this.listeners) l.onRunEvent(outcome.run?.runId, ev);
        }
        for (const l of this.listeners) l.onRunEnded();
        if (outcome.detached) return; // the window is going away: nobody to tell
        void this.announce(outcome.finished ?? { type: 'finished', status: 'failed', message: outcome.failure?.message, runDir: outcome.run?.dir });
      },
    );
  }

  /**
   * Runs an evaluate or merge job in its own worker, with a progress notification (phase, n/N,
   * ETA) and Cancel; resolves when it has ended. Independent of a training run in progress.
   */
  async runJob(job: Exclude<WorkerJob, { type: 'train' }>, title: string): Promise<JobResult> {
    this.log.info(`${title}: ${JSON.stringify(job)}`);
    return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
      const narration = new JobNarration(this.log, (status) => progress.report({ message: status }));
      const result: Omit<JobResult, 'outcome'> = {};
      const client = new WorkerClient(this.workerScript, job, (e) => {
        if (e.type === 'ready' || e.type === 'exit') return;
        if (e.type === 'evaluation') result.evaluation = e;
        if (e.type === 'merged') result.merged = e;
        narration.tell(e);
      }, { env: this.hooks.env?.(), onRejected: (why) => this.log.warn(why) });
      this.jobs.add(client);
      token.onCancellationRequested(() => {
        this.log.info(`${title}: cancel requested`);
        client.cancel();
      });
      const outcome = await client.done;
      this.jobs.delete(client);
      if (outcome.failure) this.log.error(`${outcome.failure.message}\n${outcome.stderrTail}`);
      return { outcome, ...result };
    });
  }

  private async announce(fin: FinishedEvent): Promise<void> {
    const actions = fin.runDir ? ['Show Results', 'Open Run Folder', 'Show Log'] : ['Show Log'];
    const show = fin.status === 'failed' ? vscode.window.showErrorMessage : vscode.window.showInformationMessage;
    const text = fin.status === 'failed' ? `LoRA Lab: the run failed: ${fin.message ?? 'see the log'}` : `LoRA Lab: run ${fin.status}${fin.message ? `: ${fin.message}` : ''}.`;
    const pick = await show(text, ...actions);
    if (pick === 'Show Results') this.showResults();
    if (pick === 'Open Run Folder' && fin.runDir) this.hooks.openRunFolder?.(fin.runDir);
    if (pick === 'Show Log') this.log.show(true);
  }

  dispose(): void {
    // The window goes away (reload, close): not a user's cancel. The worker saves its checkpoint and
    // leaves the run `interrupted`; the next activation offers Resume (src/host/resume.ts).
    this.worker?.detach(10_000);
    for (const j of this.jobs) j.cancel();
    this.status.dispose();
  }
}
