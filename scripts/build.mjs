// Bundles the runtimes with esbuild: extension host (CJS, vscode external), training worker,
// lint process and CLI (CJS for plain Node, TensorFlow.js kept external so its native/wasm
// binaries are found through their own package.json), and the webview (browser IIFE).
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

// Native and wasm engines locate their binaries relative to their own package: never bundle them.
const tfExternal = ['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu'];

const common = { bundle: true, sourcemap: !production, minify: production, logLevel: 'info' };

const builds = [
  { ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', platform: 'node', format: 'cjs', target: 'node20', external: ['vscode'] },
  { ...common, entryPoints: ['src/worker/main.ts'], outfile: 'dist/worker.js', platform: 'node', format: 'cjs', target: 'node20', external: tfExternal },
  { ...common, entryPoints: ['src/worker/lintServer.ts'], outfile: 'dist/lint.js', platform: 'node', format: 'cjs', target: 'node20', external: tfExternal },
  { ...common, entryPoints: ['src/cli.ts'], outfile: 'dist/cli.js', platform: 'node', format: 'cjs', target: 'node20', external: tfExternal },
  { ...common, entryPoints: ['src/bench/main.ts'], outfile: 'dist/bench.js', platform: 'node', format: 'cjs', target: 'node20', external: tfExternal },
  { ...common, entryPoints: ['webview/main.ts'], outfile: 'dist/webview.js', platform: 'browser', format: 'iife', target: 'es2022' },
];

if (watch) {
  const ctxs = await Promise.all(builds.map((b) => esbuild.context(b)));
  await Promise.all(ctxs.map((c) => c.watch()));
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
