// A run's evaluation-case reports (issue 16) as the results panel shows them: `<run>/evals/*.json`
// read and checked one by one (a file that fails to decode comes back as its name and why, never
// as a throw), and a watcher that tells the panel when a watched run's `evals/` changes (a Test
// Explorer run, lora-lab test --run, an end-of-run evaluation) so the matrix updates without a
// reload. Node's fs.watch, no vscode import: unit-tested under vitest with real files.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeCasesReport, RUN_CASES_DIR } from '../protocol/evalCases';
import type { RunCaseReport } from '../protocol/panel';

/** Reports bigger than this are not read (a report of 1000 cases × 10 models with outputs is a few MB). */
export const CASE_REPORT_MAX_BYTES = 64 * 2 ** 20;

/** The case reports of a run folder, by file name; [] when it has no `evals/` folder. */
export function readRunCases(dir: string): RunCaseReport[] {
  const evals = path.join(dir, RUN_CASES_DIR);
  let names: string[];
  try {
    names = fs.readdirSync(evals).filter((n) => n.toLowerCase().endsWith('.json'));
  } catch {
    return [];
  }
  return names.sort((a, b) => a.localeCompare(b)).map((name) => readCaseReport(path.join(evals, name)));
}

/** One report file, checked: the report, or why it cannot be used (the path relative to the run, so the panel says which file). */
export function readCaseReport(file: string): RunCaseReport {
  const name = path.basename(file);
  const shown = `${RUN_CASES_DIR}/${name}`;
  try {
    const size = fs.statSync(file).size;
    if (size > CASE_REPORT_MAX_BYTES) return { name, error: `${shown} is ${(size / 2 ** 20).toFixed(0)} MiB, more than the panel reads (${CASE_REPORT_MAX_BYTES / 2 ** 20} MiB); see it with lora-lab test` };
    const text = fs.readFileSync(file, 'utf8');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      return { name, error: `${shown} is not valid JSON (${(e as Error).message}); run the cases again to rewrite it` };
    }
    const d = decodeCasesReport(json);
    return d.ok ? { name, report: d.value } : { name, error: `${shown} is not a case report: ${d.error}` };
  } catch (e) {
    return { name, error: `${shown} could not be read: ${(e as Error).message}` };
  }
}

/** A watched run whose case reports changed: its id, folder and the reports as now. */
export type CasesChanged = (runId: string, dir: string, cases: RunCaseReport[]) => void;

interface Watched {
  dir: string;
  /** The run folder itself: tells when `evals/` appears or goes. */
  run?: fs.FSWatcher;
  /** `evals/`, while it exists. */
  evals?: fs.FSWatcher;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Watches the `evals/` of the runs the panel loaded (the most recent `max` of them) and calls back,
 * once per burst of writes (`debounceMs`), with the run's reports read again. A writer that
 * replaces a report in place may be seen half-written: the burst's last event re-reads it whole.
 */
export class RunCasesWatcher {
  private readonly runs = new Map<string, Watched>();

  constructor(
    private readonly changed: CasesChanged,
    private readonly opts: { debounceMs?: number; max?: number } = {},
  ) {}

  /** Starts watching a run (again: it becomes the most recent); the oldest beyond `max` are let go. */
  watch(runId: string, dir: string): void {
    const known = this.runs.get(runId);
    if (known && known.dir === dir) {
      this.runs.delete(runId);
      this.runs.set(runId, known);
      return;
    }
    if (known) this.unwatch(runId);
    const w: Watched = { dir };
    this.runs.set(runId, w);
    try {
      w.run = fs.watch(dir, { persistent: false }, (_event, file) => {
        if (file === null || String(file) === RUN_CASES_DIR) this.attachEvals(runId, w, true);
      });
      w.run.on('error', () => this.unwatch(runId));
    } catch {
      // The folder went (a deleted run): nothing to watch.
    }
    this.attachEvals(runId, w, false);
    const max = this.opts.max ?? 16;
    for (const id of this.runs.keys()) {
      if (this.runs.size <= max) break;
      this.unwatch(id);
    }
  }

  /** The run ids watched, oldest first. */
  watched(): string[] {
    return [...this.runs.keys()];
  }

  unwatch(runId: string): void {
    const w = this.runs.get(runId);
    if (!w) return;
    this.runs.delete(runId);
    if (w.timer) clearTimeout(w.timer);
    w.run?.close();
    w.evals?.close();
  }

  dispose(): void {
    for (const id of [...this.runs.keys()]) this.unwatch(id);
  }

  /**
   * (Re)attaches the watcher of `evals/` when it exists. `changed`: the run folder saw `evals/` come,
   * go or be replaced: the old watcher (of a folder maybe gone) is dropped and the reports re-read.
   */
  private attachEvals(runId: string, w: Watched, changed: boolean): void {
    const evals = path.join(w.dir, RUN_CASES_DIR);
    if (changed && w.evals) {
      w.evals.close();
      w.evals = undefined;
    }
    const exists = fs.existsSync(evals);
    if (exists && !w.evals) {
      try {
        const watcher = fs.watch(evals, { persistent: false }, (_event, file) => {
          if (file === null || String(file).toLowerCase().endsWith('.json')) this.schedule(runId, w);
        });
        watcher.on('error', () => {
          watcher.close();
          if (w.evals === watcher) w.evals = undefined;
          this.schedule(runId, w);
        });
        w.evals = watcher;
      } catch {
        // Gone again between the check and the watch: the run folder's watcher sees it come back.
      }
    }
    if (changed) this.schedule(runId, w);
  }

  private schedule(runId: string, w: Watched): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => {
      w.timer = undefined;
      if (this.runs.get(runId) !== w) return;
      this.changed(runId, w.dir, readRunCases(w.dir));
    }, this.opts.debounceMs ?? 150);
  }
}
