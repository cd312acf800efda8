// Entry of the results panel (webview): restores the persisted view state, builds the views,
// feeds host messages, replies and UI actions through the store once per animation frame (so
// bursts of live steps cost one render), persists state, asks the host for run details it lacks
// (LoadRuns), says ready.
import './elements';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import type { FromPanel, PanelCommand } from '../src/protocol/panel';
import { h } from './dom';
import { PanelChannel } from './host';
import { initialState, persisted, reduce, runsToLoad, type Action, type State } from './store';
import { ConfigureView } from './views/configureView';
import { CurvesView } from './views/curvesView';
import { EvaluationView } from './views/evaluationView';
import { RunsView } from './views/runsView';
import { Shell } from './views/shell';
import { StatusView } from './views/statusView';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

/** The bundle's stylesheet (dist/webview.css), when the host's HTML does not link it itself. */
function ensureStylesheet(script: HTMLScriptElement | SVGScriptElement | null): void {
  if (!(script instanceof HTMLScriptElement) || !script.src) return;
  const href = script.src.replace(/\.js(\?.*)?$/, '.css$1');
  if (Array.from(document.querySelectorAll('link[rel="stylesheet"]')).some((l) => (l as HTMLLinkElement).href === href)) return;
  document.head.appendChild(h('link', { rel: 'stylesheet', href }));
}

function start(): void {
  const vscode = acquireVsCodeApi();

  let state: State = initialState;
  const saved = vscode.getState();
  if (saved && typeof saved === 'object') state = reduce(state, { type: 'ui/restore', saved });

  let pending: Action[] = [];
  let scheduled = false;
  const dispatch = (a: Action) => {
    pending.push(a);
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(flush);
    }
  };

  const send = (m: FromPanel) => vscode.postMessage(m);
  const host = new PanelChannel({ send, deliver: dispatch, warn: (p) => console.warn(`LoRA Lab panel: ${p}`) });
  const post = (m: PanelCommand) => host.post(m);
  const status = new StatusView(send, dispatch);
  const sections = {
    configure: new ConfigureView(send, dispatch),
    curves: new CurvesView(dispatch, host),
    evaluation: new EvaluationView(host, dispatch),
    runs: new RunsView(host, dispatch),
  };
  const shell = new Shell(status, sections, dispatch);
  const app = document.getElementById('app') ?? document.body.appendChild(h('div', { id: 'app' }));
  app.replaceChildren(shell.el);

  let savedJson = JSON.stringify(persisted(state));
  const requested = new Set<string>();

  function render(): void {
    status.update(state);
    shell.update(state);
    const json = JSON.stringify(persisted(state));
    if (json !== savedJson) {
      savedJson = json;
      vscode.setState(persisted(state));
    }
    const need = runsToLoad(state).filter((id) => !requested.has(id));
    if (need.length) {
      need.forEach((id) => requested.add(id));
      void host.loadRuns(need);
    }
  }

  function flush(): void {
    scheduled = false;
    const actions = pending;
    pending = [];
    state = reduce(state, actions.length === 1 ? actions[0] : { type: 'ui/batch', actions });
    // A runDetail that arrives answers the request; a later reload may ask again.
    for (const a of actions) if (a.type === 'runDetail') requested.delete(a.detail.summary.id);
    render();
  }

  window.addEventListener('message', (e: MessageEvent) => host.receive(e.data));

  post({ type: 'ready' });
  render();
}

ensureStylesheet(document.currentScript);
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
