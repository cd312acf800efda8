// `lora-lab train`'s human output, told by the one narrator (src/protocol/progress.ts) that the
// extension's status bar, output channel and panel use: the same lines, the same phases and the
// same ETA. On a terminal the step line and the phase line (evaluating batch k/K, generating
// prompt k/K) rewrite themselves in place; elsewhere each step reported and each phase's start is
// a line. The backend and the evaluation get the terminal's fuller wording.
import { backendSummary, nativeHint } from '../core/backend';
import { Narrator, stepLine, type NarratedEvent } from '../protocol/progress';
import { formatEvalReport } from './eval';

export class TerminalNarrator {
  private readonly narrator = new Narrator();
  private lastPhase = '';

  constructor(
    private readonly out: { write(s: string): unknown },
    private readonly tty: boolean,
  ) {}

  /** Prints what `e` is worth: its lines, or the rewritten status line for steps and phase progress. */
  print(e: NarratedEvent): void {
    const lines = this.narrator.tell(e);
    const p = this.narrator.progress;
    const newPhase = p.phase !== this.lastPhase;
    this.lastPhase = p.phase;
    switch (e.type) {
      case 'backend':
        this.line(`backend  ${backendSummary(e.report)}`);
        for (const n of e.report.notes) this.line(`         note: ${n}`);
        if (nativeHint(e.report)) this.line(`         hint: ${nativeHint(e.report)}`);
        return;
      case 'evaluation':
        this.line(`eval     ${e.path}`);
        for (const l of formatEvalReport(e.report)) this.line(`         ${l}`);
        return;
      case 'step':
        this.status(stepLine(p, e), true);
        return;
      case 'phase':
        this.status(`phase    ${this.narrator.status()}`, newPhase);
        return;
      default:
        for (const l of lines) this.line(l);
    }
  }

  private line(s: string): void {
    this.out.write(`${this.tty ? '\r\x1b[K' : ''}${s}\n`);
  }

  /** A status line: rewritten in place on a terminal; elsewhere printed when `worthALine`. */
  private status(s: string, worthALine: boolean): void {
    if (this.tty) this.out.write(`\r\x1b[K${s}`);
    else if (worthALine) this.line(s);
  }
}
