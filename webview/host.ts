// The panel's end of the channel to the extension host: commands it posts, requests it awaits
// (src/protocol/rpc.ts: LoadRuns, EvaluateRun, their replies checked), and the notifications it
// accepts. main.ts builds one over acquireVsCodeApi(); a test builds one over plain functions.
import { EvaluateRun, isHostNotification, LoadRuns, type FromPanel, type HostNotification, type PanelCommand, type RunDetail } from '../src/protocol/panel';
import { Rpc } from '../src/protocol/rpc';
import { RunExamples, StepExamples, type RunExamplesReply, type StepExamplesReply } from '../src/protocol/examples';

/** What the views may ask of the host. */
export interface HostApi {
  post(m: PanelCommand): void;
  /** Evaluates a run (base, adapter, merged); its detail, new evaluation included, is dispatched when it comes back. */
  evaluate(runId: string): void;
  /** Every metrics row of a run whose detail came as a bounded view ("Load all"); resolves when its detail was dispatched (true) or refused (false). */
  loadAllMetrics(runId: string): Promise<boolean>;
  /** The examples of one step of a run (read by the host from metrics.jsonl); rejects with the host's reason. */
  stepExamples(runId: string, step: number): Promise<StepExamplesReply>;
  /** A run's hardest training/validation examples and those whose loss went up; rejects with the host's reason. */
  runExamples(runId: string): Promise<RunExamplesReply>;
}

export interface Channel {
  /** Posts one message to the host. */
  send(m: FromPanel): void;
  /** The host's notifications; an answer to a request arrives as a runDetail; a failed request as an error. */
  deliver(m: HostNotification | { type: 'runDetail'; detail: RunDetail }): void;
  warn(problem: string): void;
}

export class PanelChannel implements HostApi {
  private readonly rpc: Rpc;

  constructor(private readonly ch: Channel) {
    this.rpc = new Rpc((m) => ch.send(m), ch.warn);
  }

  /** Feeds one message from the host: a reply settles its request, a notification is delivered, anything else is dropped. */
  receive(m: unknown): void {
    if (this.rpc.receive(m)) return;
    if (isHostNotification(m)) this.ch.deliver(m);
  }

  post(m: PanelCommand): void {
    this.ch.send(m);
  }

  /**
   * Asks for the details of runs; each arrives as a runDetail. A long run's metrics are a bounded
   * view unless `full`. Resolves false when the host refused.
   */
  loadRuns(runIds: string[], full = false): Promise<boolean> {
    return this.rpc.request(LoadRuns, full ? { runIds, full } : { runIds }).then(
      (details) => {
        for (const detail of details) this.ch.deliver({ type: 'runDetail', detail });
        return true;
      },
      (e: Error) => {
        this.ch.deliver({ type: 'error', message: e.message });
        return false;
      },
    );
  }

  loadAllMetrics(runId: string): Promise<boolean> {
    return this.loadRuns([runId], true);
  }

  stepExamples(runId: string, step: number): Promise<StepExamplesReply> {
    return this.rpc.request(StepExamples, { runId, step });
  }

  runExamples(runId: string): Promise<RunExamplesReply> {
    return this.rpc.request(RunExamples, { runId });
  }

  evaluate(runId: string): void {
    void this.rpc.request(EvaluateRun, { runId }).then(
      (detail) => this.ch.deliver({ type: 'runDetail', detail }),
      (e: Error) => this.ch.deliver({ type: 'error', message: e.message }),
    );
  }
}
