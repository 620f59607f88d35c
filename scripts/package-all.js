#!/usr/bin/env node
// One .vsix per VS Code target, each carrying only its own onnxruntime-node binary: how the
// Marketplace serves extensions with native modules (`vsce publish --packagePath` each file).
// `npm run package` still builds the one package for this machine.
//   node scripts/package-all.js [--out DIR] [--targets linux-x64,win32-x64]
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

// VS Code target → onnxruntime-node's binary folder. onnxruntime-node 1.30 ships no darwin-x64 build.
const TARGETS = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'darwin-arm64': 'darwin/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
};

const root = path.resolve(__dirname, '..');
const arg = (name) => {
  const index = process.argv.indexOf(name);
  return index >= 0 ? process.argv[index + 1] : undefined;
};
const out = path.resolve(arg('--out') || path.join(root, 'packages'));
const wanted = (arg('--targets') || Object.keys(TARGETS).join(',')).split(',').map((t) => t.trim()).filter(Boolean);
for (const target of wanted) {
  if (!TARGETS[target]) {
    console.error(`unknown target ${target}; known: ${Object.keys(TARGETS).join(', ')}`);
    process.exit(2);
  }
}
fs.mkdirSync(out, { recursive: true });
const vsce = path.join(root, 'node_modules', '@vscode', 'vsce', 'vsce');
const build = (ortTargets) => execFileSync(process.execPath, [path.join(root, 'esbuild.js'), '--production', '--quiet'],
  { cwd: root, stdio: 'inherit', env: { ...process.env, BOND_ORT_TARGETS: ortTargets } });
try {
  for (const target of wanted) {
    build(TARGETS[target]);
    const file = path.join(out, `bond-studio-${target}.vsix`);
    execFileSync(process.execPath, [vsce, 'package', '--target', target, '--no-dependencies', '--allow-missing-repository',
      '--no-rewrite-relative-links', '--out', file], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    console.log(`${target}: ${path.relative(root, file)} (${(fs.statSync(file).size / 2 ** 20).toFixed(1)} MiB)`);
  }
} finally {
  build(`${process.platform}/${process.arch}`); // dist/ back to this machine's build
}
