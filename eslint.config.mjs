// Lint: typescript-eslint's recommended rules, plus the architectural boundaries:
// the engine, the protocol, the worker and the webview never import `vscode`; the webview (a
// browser bundle) imports from src/ only the protocol and the pure helpers listed below.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const noVscode = {
  'no-restricted-imports': [
    'error',
    {
      paths: [{ name: 'vscode', message: 'src/core, src/protocol, src/worker and webview run outside VS Code: keep vscode in src/host, src/commands, src/panel, src/extension.ts.' }],
    },
  ],
  'no-restricted-syntax': [
    'error',
    {
      selector: "CallExpression[callee.name='require'][arguments.0.value='vscode']",
      message: 'No vscode in the VS Code-free layers (require).',
    },
    {
      selector: "ImportExpression[source.value='vscode']",
      message: 'No vscode in the VS Code-free layers (dynamic import).',
    },
  ],
};

/**
 * What the webview may import from src/ besides src/protocol/**: pure helpers (no Node, no
 * TensorFlow.js, no DOM assumptions). `import type` from anywhere in src/ is fine: it is erased
 * from the bundle.
 */
export const WEBVIEW_PURE_HELPERS = [
  'core/lora/config', // countParameters / selectTargets: the form's live parameter count (PEFT's arithmetic)
];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const webviewImports = {
  '@typescript-eslint/no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          regex: `(^|/)src/(?!protocol/|(${WEBVIEW_PURE_HELPERS.map(escape).join('|')})$)`,
          allowTypeImports: true,
          message: 'The webview imports from src/ only src/protocol/* and the pure helpers in eslint.config.mjs (WEBVIEW_PURE_HELPERS); use `import type` for types, or move what it needs into src/protocol.',
        },
        {
          regex: '^(node:|(fs|path|os|crypto|child_process|worker_threads|util|stream)(/|$)|@tensorflow/)',
          message: 'The webview runs in a browser: no Node built-ins, no TensorFlow.js.',
        },
      ],
    },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'out/**', '.lora-lab/**', 'samples/**', 'test/fixtures/**', '.vscode-test/**', '.venv/**', '.venv-interop/**', 'test-output/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', performance: 'readonly', globalThis: 'readonly', require: 'readonly', __dirname: 'readonly', module: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Plain CommonJS launchers.
    files: ['bin/**/*.js'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['src/core/**', 'src/protocol/**', 'src/worker/**', 'webview/**'],
    rules: noVscode,
  },
  {
    files: ['webview/**'],
    // The dev harness's screenshot script runs in Node, not in the panel.
    ignores: ['webview/dev/*.mjs'],
    rules: webviewImports,
  },
);
