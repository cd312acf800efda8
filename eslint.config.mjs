// Lint: typescript-eslint's recommended rules, plus the architectural boundary:
// the engine, the protocol, the worker and the webview never import `vscode`.
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
);
