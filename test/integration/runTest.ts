// `npm run test:vscode`: downloads VS Code (once, into .vscode-test/) with @vscode/test-electron,
// opens a temporary workspace (fixture.ts) with this repository as the extension under
// development, and runs suite/index.js inside its extension host. Needs the internet the first
// time and a display (use xvfb-run on a headless Linux machine). See README.md beside this file.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { makeFixture } from './fixture';

async function main(): Promise<number> {
  // Compiled to out/integration/runTest.js: the repository is two folders up.
  const repo = path.resolve(__dirname, '..', '..');
  if (!fs.existsSync(path.join(repo, 'dist', 'extension.js'))) {
    console.error(`${path.join(repo, 'dist', 'extension.js')} is missing: run "npm run build" first.`);
    return 2;
  }
  const fixture = makeFixture(repo);
  console.log(`workspace: ${fixture.workspace} (model: ${fixture.model === 'sample' ? 'the bundled sample model' : fixture.model})`);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  try {
    return await runTests({
      version: process.env.VSCODE_VERSION || 'stable',
      extensionDevelopmentPath: repo,
      extensionTestsPath: path.join(__dirname, 'suite', 'index.js'),
      extensionTestsEnv: {
        LORA_LAB_IT_DATASET: fixture.dataset,
        LORA_LAB_IT_MODEL: fixture.model,
      },
      launchArgs: [
        fixture.workspace,
        `--user-data-dir=${fixture.userData}`,
        `--extensions-dir=${fixture.extensionsDir}`,
        '--disable-extensions', // every other extension; the one under development still loads
        '--disable-workspace-trust',
        '--skip-welcome',
        '--skip-release-notes',
        '--disable-gpu',
        ...(isRoot ? ['--no-sandbox'] : []), // Electron refuses to run as root with its sandbox
      ],
    });
  } finally {
    if (!process.env.KEEP_FIXTURE) fs.rmSync(fixture.root, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
