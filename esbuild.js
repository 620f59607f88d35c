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
  entryPoints: { dashboard: 'webview/dashboard/main.ts', samples: 'webview/samples/main.ts', inspector: 'webview/inspector/main.ts', playground: 'webview/playground/main.ts', sweep: 'webview/sweep/main.ts', experiments: 'webview/experiments/main.ts' },
  outdir: 'dist/webview',
  logLevel: common.logLevel,
};

/**
 * onnxruntime-node is not bundled (a native module): its JavaScript and the native library of each
 * target platform are copied to dist/node_modules, where dist/inferenceWorker.js resolves it. The
 * default target is this machine; BOND_ORT_TARGETS="linux/x64,darwin/arm64,win32/x64" adds others.
 */
function copyOnnxRuntime() {
  const targets = (process.env.BOND_ORT_TARGETS || `${process.platform}/${process.arch}`).split(',').map((t) => t.trim()).filter(Boolean);
  const out = path.join('dist', 'node_modules');
  const copy = (from, to) => fs.cpSync(from, to, { recursive: true, dereference: true });
  const node = path.dirname(require.resolve('onnxruntime-node/package.json'));
  // onnxruntime-common's "exports" hides package.json: find its folder from its entry point
  const commonEntry = require.resolve('onnxruntime-common', { paths: [node] });
  const common = commonEntry.slice(0, commonEntry.lastIndexOf(`${path.sep}dist${path.sep}`));
  fs.rmSync(out, { recursive: true, force: true });
  copy(path.join(common, 'package.json'), path.join(out, 'onnxruntime-common', 'package.json'));
  copy(path.join(common, 'dist', 'cjs'), path.join(out, 'onnxruntime-common', 'dist', 'cjs'));
  copy(path.join(node, 'package.json'), path.join(out, 'onnxruntime-node', 'package.json'));
  copy(path.join(node, 'dist'), path.join(out, 'onnxruntime-node', 'dist'));
  for (const target of targets) {
    const binaries = path.join(node, 'bin', 'napi-v6', target);
    if (!fs.existsSync(binaries)) throw new Error(`onnxruntime-node has no binaries for ${target} (BOND_ORT_TARGETS)`);
    copy(binaries, path.join(out, 'onnxruntime-node', 'bin', 'napi-v6', target));
  }
}

async function main() {
  fs.mkdirSync('dist/webview', { recursive: true });
  copyOnnxRuntime();
  fs.copyFileSync(path.join(require.resolve('uplot/package.json'), '..', 'dist', 'uPlot.min.css'), 'dist/webview/uPlot.min.css');
  // The schema the editor validates *.bond.json with, hovers saying each field's default and bounds.
  const configSchema = JSON.parse(fs.readFileSync('contracts/schemas/config.schema.json', 'utf8'));
  const moved = JSON.parse(fs.readFileSync('contracts/schemas/config.moved-fields.json', 'utf8')).moved;
  fs.writeFileSync('dist/config.editor.schema.json', `${JSON.stringify(require('./scripts/editor-schema').editorSchema(configSchema, moved), null, 1)}\n`);
  // *.sweep.json: the trainer's schema as it is (its descriptions are the hovers).
  fs.copyFileSync('contracts/schemas/sweep.schema.json', 'dist/sweep.editor.schema.json');
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
