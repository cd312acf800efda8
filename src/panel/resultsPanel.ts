// The results panel: a single webview (restored after a window reload by a serializer) with a
// strict CSP and a nonce, no remote content. It shows the configuration form, live loss curves,
// the evaluation and the runs. Messages are typed in src/protocol/panel.ts: every one the webview
// sends is decoded here (requests by the panel's Rpc, commands by decodePanelCommand), and a
// malformed one is refused with its reason in the log.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { decodePanelCommand, type PanelCommand, type ToPanel } from '../protocol/panel';
import { Rpc } from '../protocol/rpc';

export const PANEL_VIEW_TYPE = 'loraLab.results';

/** What a panel needs from the host: a handler for its commands, its request handlers, a log. */
export interface PanelHost {
  onCommand(cmd: PanelCommand, panel: ResultsPanel): void | Promise<void>;
  /** Registers the request handlers (LoadRuns, EvaluateRun) on a new panel's Rpc. */
  serve(rpc: Rpc): void;
  /** Hears every message refused and every request that failed, with the reason. */
  warn(problem: string): void;
}

export class ResultsPanel implements vscode.Disposable {
  static current: ResultsPanel | undefined;
  private readonly disposables: vscode.Disposable[] = [];
  private ready = false;
  private queue: ToPanel[] = [];

  /** Requests from the webview and their replies. */
  readonly rpc: Rpc;

  private constructor(
    readonly panel: vscode.WebviewPanel,
    private readonly extensionUri: vscode.Uri,
    private readonly host: PanelHost,
  ) {
    panel.webview.options = { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')] };
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.svg');
    panel.webview.html = this.html();
    this.rpc = new Rpc((m) => this.post(m), (problem) => host.warn(`Results panel: ${problem}`));
    host.serve(this.rpc);
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((raw: unknown) => this.receive(raw)),
    );
  }

  private receive(raw: unknown): void {
    if (this.rpc.receive(raw)) return;
    const d = decodePanelCommand(raw);
    if (!d.ok) {
      this.host.warn(`Results panel: message refused: ${d.error}`);
      return;
    }
    const m = d.value;
    if (m.type === 'ready') {
      this.ready = true;
      const pending = this.queue;
      this.queue = [];
      for (const p of pending) void this.panel.webview.postMessage(p);
    }
    void Promise.resolve(this.host.onCommand(m, this)).catch((e: Error) => this.post({ type: 'error', message: e.message }));
  }

  /** Shows the panel (creating it if needed) beside the editor. */
  static show(extensionUri: vscode.Uri, host: PanelHost): ResultsPanel {
    if (ResultsPanel.current) {
      ResultsPanel.current.panel.reveal(undefined, true);
      return ResultsPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(PANEL_VIEW_TYPE, 'LoRA Lab', { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true }, {
      enableScripts: true,
      retainContextWhenHidden: true, // live curves keep their state while the tab is in the background
      localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
    });
    ResultsPanel.current = new ResultsPanel(panel, extensionUri, host);
    return ResultsPanel.current;
  }

  /** Restores a panel VS Code kept across a reload (the webview re-sends 'ready' and its saved state). */
  static revive(panel: vscode.WebviewPanel, extensionUri: vscode.Uri, host: PanelHost): ResultsPanel {
    ResultsPanel.current?.dispose();
    ResultsPanel.current = new ResultsPanel(panel, extensionUri, host);
    return ResultsPanel.current;
  }

  /** Posts now if the webview is listening, else once it says it is ready. */
  post(msg: ToPanel): void {
    if (this.ready) void this.panel.webview.postMessage(msg);
    else this.queue.push(msg);
  }

  private html(): string {
    const webview = this.panel.webview;
    const nonce = crypto.randomBytes(16).toString('base64');
    const dist = vscode.Uri.joinPath(this.extensionUri, 'dist');
    const script = webview.asWebviewUri(vscode.Uri.joinPath(dist, 'webview.js'));
    const cssFile = vscode.Uri.joinPath(dist, 'webview.css');
    const css = fs.existsSync(cssFile.fsPath) ? `<link rel="stylesheet" href="${webview.asWebviewUri(cssFile)}">` : '';
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource} data:`,
      `style-src ${webview.cspSource} 'unsafe-inline'`,
      `font-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${css}
<title>LoRA Lab</title>
</head>
<body>
<div id="app"></div>
<script nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
  }

  dispose(): void {
    if (ResultsPanel.current === this) ResultsPanel.current = undefined;
    this.rpc.dispose('the results panel was closed');
    for (const d of this.disposables.splice(0)) d.dispose();
    this.panel.dispose();
  }
}
