// Colours from the VS Code theme: canvas drawing (uPlot) cannot use var(--…), so the values are
// read with getComputedStyle when a chart is built, and rebuilt when VS Code switches the theme
// (it changes the body's vscode-light / vscode-dark / vscode-high-contrast class and the variables).

export interface ChartColors {
  foreground: string;
  muted: string;
  grid: string;
  background: string;
  /** One per overlaid run, cycling. */
  runs: string[];
}

/** The theme's chart colours, in the order runs get them. */
export const RUN_VARS = ['blue', 'orange', 'green', 'purple', 'red', 'yellow'].map((c) => `--vscode-charts-${c}`);
// Only for a page without VS Code's variables (the dev harness before it sets them): never seen in VS Code.
const FALLBACK_RUNS = ['#3794ff', '#d18616', '#89d185', '#b180d7', '#f14c4c', '#cca700'];

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

export function chartColors(): ChartColors {
  const foreground = cssVar('--vscode-foreground', '#cccccc');
  return {
    foreground,
    muted: cssVar('--vscode-descriptionForeground', foreground),
    grid: cssVar('--vscode-editorWidget-border', cssVar('--vscode-panel-border', 'rgba(128,128,128,0.35)')),
    background: cssVar('--vscode-editor-background', '#1e1e1e'),
    runs: RUN_VARS.map((v, i) => cssVar(v, FALLBACK_RUNS[i])),
  };
}

/** Calls `f` when the theme changes (body class or inline style set by VS Code). Returns a disposer. */
export function onThemeChange(f: () => void): () => void {
  const obs = new MutationObserver(() => f());
  obs.observe(document.body, { attributes: true, attributeFilter: ['class', 'style', 'data-vscode-theme-id'] });
  obs.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
  return () => obs.disconnect();
}

/** A theme colour at another opacity: "#rgb" / "#rrggbb" (alpha digits dropped) → "rgba(r, g, b, a)"; other forms come back unchanged. */
export function withAlpha(color: string, alpha: number): string {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})([0-9a-f]{2}|[0-9a-f])?$/i.exec(color.trim());
  if (!m) return color;
  const hex = m[1].length === 3 ? m[1].replace(/./g, (c) => c + c) : m[1];
  const n = parseInt(hex, 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}
