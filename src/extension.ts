// Extension entry: registers the commands, the results panel's serializer and the config
// documents and the dataset lint. Activation (on start-up finished) does no heavy work: TensorFlow.js
// is only ever loaded in the forked worker (training, evaluate, merge), the lint runs in its own
// process (forked when a dataset is first opened).
import * as vscode from 'vscode';
import { hintNativeOnWasm, relinkNativeOnActivation, SETUP_NATIVE_COMMAND, setupNativeCommand } from './commands/native';
import { excludeRows } from './commands/exclude';
import { countParametersCommand } from './commands/parameterCount';
import { compareRuns, CONFIG_SCHEME, evaluateRun, mergeRun, openRunFolder, RunConfigDocuments } from './commands/runs';
import { EXPORT_RUN_COMMAND, exportRunCommand } from './commands/exportRun';
import { startTraining, type TrainingCommandDeps } from './commands/training';
import { registerCaseCompletion } from './host/caseCompletion';
import { CaseDiagnostics } from './host/caseDiagnostics';
import { DatasetLint } from './host/datasetLint';
import { EvalTests } from './host/evalTests';
import { LintClient } from './host/lintClient';
import { workerBaseEnv } from './host/nativeInstall';
import { PanelController } from './host/panelController';
import { offerInterruptedRuns, resumeRunCommand, resumeRunDir } from './host/resume';
import { TrainingController } from './host/trainingController';
import { PANEL_VIEW_TYPE } from './panel/resultsPanel';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('LoRA Lab', { log: true });
  // Bound late: the panel controller needs the training controller, whose buttons open the panel.
  const late: { panels?: PanelController } = {};
  const training = new TrainingController(context.asAbsolutePath('dist/worker.js'), log, {
    // The worker finds native installs of *Set Up Native Backend…* in the global storage.
    env: () => workerBaseEnv(context.globalStorageUri.fsPath),
    onBackend: (report) => void hintNativeOnWasm(context, log, report),
    showResults: () => void late.panels?.show(),
    openRunFolder: (dir) => void openRunFolder(dir),
  });
  relinkNativeOnActivation(context, log);
  // Dataset lint: the Problems panel, hover and CodeLens of open dataset files (src/host/datasetLint.ts),
  // and the Configure section's summary of the form's dataset (the panel controller's).
  const lintClient = new LintClient(context.asAbsolutePath('dist/lint.js'), (line) => log.warn(line));
  const lint = new DatasetLint(context, lintClient, log);
  context.subscriptions.push(
    lint,
    { dispose: () => lintClient.dispose() },
    vscode.commands.registerCommand('loraLab.excludeRows', (file?: string, lines?: number[], note?: string) => excludeRows({ file: typeof file === 'string' ? file : undefined, lines: Array.isArray(lines) ? lines : undefined, note, afterChange: (f) => lint.lint(f) })),
    vscode.commands.registerCommand('loraLab.includeRows', (file?: string, lines?: number[]) => excludeRows({ file: typeof file === 'string' ? file : undefined, lines: Array.isArray(lines) ? lines : undefined, remove: true, afterChange: (f) => lint.lint(f) })),
  );
  // Completion and hover in *.evals.jsonl, from schemas/evals.schema.json (jsonValidation does not reach JSON Lines).
  context.subscriptions.push(registerCaseCompletion());
  const panels = (late.panels = new PanelController(context, training, {
    newRun: (): Promise<void> => startTraining(deps),
    evaluateRun: (dir) => evaluateRun(training, dir),
    mergeRun: (dir) => mergeRun(training, dir),
    resumeRun: (dir) => resumeRunDir(training, dir),
    compareRuns: (a, b) => compareRuns(a, b),
    openRunFolder: (dir) => openRunFolder(dir),
  }, log, lint));
  const deps: TrainingCommandDeps = { context, panels, training };
  const cmd = (id: string, f: (...args: never[]) => unknown) => vscode.commands.registerCommand(id, f);
  context.subscriptions.push(
    log,
    training,
    training.addListener(panels),
    lint.onDidReport(({ file, report }) => panels.onLintReport(file, report)),
    cmd('loraLab.startTraining', (uri?: vscode.Uri) => startTraining(deps, uri instanceof vscode.Uri ? uri : undefined)),
    cmd('loraLab.fineTuneFile', (uri?: vscode.Uri) => startTraining(deps, uri ?? vscode.window.activeTextEditor?.document.uri)),
    cmd('loraLab.trainWithDefaults', (uri?: vscode.Uri) => startTraining(deps, uri instanceof vscode.Uri ? uri : undefined, { withDefaults: true })),
    cmd('loraLab.showResults', () => panels.show()),
    cmd('loraLab.cancelTraining', () => training.cancel()),
    cmd('loraLab.compareRuns', (a?: string, b?: string) => compareRuns(a, b)),
    cmd('loraLab.resumeRun', (dir?: string) => resumeRunCommand(training, typeof dir === 'string' ? dir : undefined)),
    cmd('loraLab.evaluateRun', (dir?: string) => evaluateRun(training, typeof dir === 'string' ? dir : undefined)),
    cmd('loraLab.mergeRun', (dir?: string) => mergeRun(training, typeof dir === 'string' ? dir : undefined)),
    cmd(EXPORT_RUN_COMMAND, (dir?: string) => exportRunCommand(typeof dir === 'string' ? dir : undefined)),
    cmd('loraLab.openRunFolder', (dir?: string) => openRunFolder(typeof dir === 'string' ? dir : undefined)),
    cmd('loraLab.countParameters', countParametersCommand),
    cmd('loraLab.showLog', () => log.show()),
    cmd(SETUP_NATIVE_COMMAND, () => setupNativeCommand(context, log)),
    vscode.workspace.registerTextDocumentContentProvider(CONFIG_SCHEME, new RunConfigDocuments()),
    vscode.window.registerWebviewPanelSerializer(PANEL_VIEW_TYPE, {
      async deserializeWebviewPanel(panel: vscode.WebviewPanel) {
        panels.revive(panel);
      },
    }),
  );
  // Evaluation cases (*.evals.jsonl) in the Test Explorer, run in a worker per case file, and their Problems.
  const evalTests = new EvalTests({ workerScript: context.asAbsolutePath('dist/worker.js'), env: () => workerBaseEnv(context.globalStorageUri.fsPath), log });
  context.subscriptions.push(
    evalTests,
    new CaseDiagnostics(),
    cmd('loraLab.runEvalCases', (uri?: vscode.Uri) => evalTests.runCasesCommand(uri instanceof vscode.Uri ? uri : undefined)),
  );
  // A run whose worker died with the last window (reload, crash, kill) is offered for resuming.
  void offerInterruptedRuns(context, training, () => void panels.show());
}

export function deactivate(): void {}
