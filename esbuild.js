// Bundles the extension host (src/extension.ts) and the headless CLI (src/cli.ts) for Node, and
// the webviews (webview/*/main.ts) for the browser into dist/webview, with uPlot's stylesheet.
// `--production` minifies and drops source maps; `--watch` rebuilds on change.
const esbuild = require('esbuild');
const fs = require('fs');
const path = require('path');

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: !production,
  minify: production,
  // vscode is provided by the editor; onnxruntime-node is a native module loaded on first use.
  external: ['vscode', 'onnxruntime-node'],
  // jsonc-parser's UMD build cannot be bundled; its ESM build can.
  mainFields: ['module', 'main'],
  logLevel: process.argv.includes('--quiet') ? 'error' : 'info',
};

const webviews = {
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: 'chrome120',
  sourcemap: production ? false : 'inline',
  minify: production,
  entryPoints: { dashboard: 'webview/dashboard/main.ts', samples: 'webview/samples/main.ts', inspector: 'webview/inspector/main.ts' },
  outdir: 'dist/webview',
  logLevel: common.logLevel,
};

async function main() {
  fs.mkdirSync('dist/webview', { recursive: true });
  fs.copyFileSync(path.join(require.resolve('uplot/package.json'), '..', 'dist', 'uPlot.min.css'), 'dist/webview/uPlot.min.css');
  const contexts = await Promise.all([
    esbuild.context({ ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js' }),
    esbuild.context({ ...common, entryPoints: ['src/cli.ts'], outfile: 'dist/cli.js' }),
    esbuild.context({ ...common, entryPoints: ['src/inference/worker.ts'], outfile: 'dist/inferenceWorker.js' }),
    esbuild.context(webviews),
  ]);
  if (watch) {
    await Promise.all(contexts.map((context) => context.watch()));
    return;
  }
  await Promise.all(contexts.map((context) => context.rebuild()));
  await Promise.all(contexts.map((context) => context.dispose()));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
