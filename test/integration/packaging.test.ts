/** npm run package:all: one .vsix per VS Code target, each with only its own onnxruntime binary. */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT, tempDir } from '../helpers';

interface ZipEntry { fileName: string }
interface ZipFile {
  readEntry(): void;
  on(event: 'entry', listener: (entry: ZipEntry) => void): ZipFile;
  on(event: 'end', listener: () => void): ZipFile;
  on(event: 'error', listener: (error: Error) => void): ZipFile;
  openReadStream(entry: ZipEntry, callback: (error: Error | null, stream: NodeJS.ReadableStream) => void): void;
}
// yauzl comes with @vscode/vsce (a dev dependency): the reader vsce itself uses for packages.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yauzl = require('yauzl') as { open(path: string, options: { lazyEntries: boolean }, callback: (error: Error | null, zip: ZipFile) => void): void };

function listing(path: string): Promise<{ names: string[]; manifest: string }> {
  return new Promise((resolve, reject) => {
    yauzl.open(path, { lazyEntries: true }, (error, zip) => {
      if (error) return reject(error);
      const names: string[] = [];
      let manifest = '';
      zip.on('entry', (entry) => {
        names.push(entry.fileName);
        if (entry.fileName !== 'extension.vsixmanifest') return zip.readEntry();
        zip.openReadStream(entry, (streamError, stream) => {
          if (streamError) return reject(streamError);
          stream.on('data', (chunk: Buffer) => { manifest += chunk.toString('utf8'); });
          stream.on('end', () => zip.readEntry());
        });
      }).on('end', () => resolve({ names, manifest })).on('error', reject);
      zip.readEntry();
    });
  });
}

// Two of package-all's five targets, of two operating systems and two architectures: enough to show
// that each package carries its own binary and no other's (each target is a build and a vsce run,
// some 35 s here: all five made this the slowest test of the suite).
const TARGETS: Record<string, string> = { 'linux-x64': 'linux/x64', 'win32-arm64': 'win32/arm64' };

test('package:all builds one package per target, each with its own onnxruntime binary only', { timeout: 600_000 }, async () => {
  const out = tempDir('bond-packages-');
  execFileSync(process.execPath, [join(ROOT, 'scripts', 'package-all.js'), '--out', out, '--targets', Object.keys(TARGETS).join(',')],
    { cwd: ROOT, stdio: 'pipe' });
  assert.deepEqual(readdirSync(out).sort(), Object.keys(TARGETS).map((t) => `bond-studio-${t}.vsix`).sort());
  for (const [target, binaries] of Object.entries(TARGETS)) {
    const { names, manifest } = await listing(join(out, `bond-studio-${target}.vsix`));
    assert.match(manifest, new RegExp(`TargetPlatform="${target}"`), target);
    const native = names.filter((n) => n.includes('/onnxruntime-node/bin/napi-v6/'));
    const platforms = new Set(native.map((n) => n.split('/napi-v6/')[1]!.split('/').slice(0, 2).join('/')));
    assert.deepEqual([...platforms], [binaries], `${target} carries ${[...platforms].join(', ')}`);
    assert.ok(native.some((n) => n.endsWith('onnxruntime_binding.node')), `${target} lacks the binding`);
    for (const needed of ['extension/dist/extension.js', 'extension/dist/inferenceWorker.js', 'extension/trainer/bond_trainer/training/trainer.py',
      'extension/contracts/schemas/run-folder.schema.json', 'extension/scripts/bootstrap-python', 'extension/trainer/requirements-studio.txt',
      'extension/trainer/requirements.txt',
      'extension/examples/demo/demo.bond.json', 'extension/examples/demo/prompts-train.jsonl', 'extension/media/walkthrough/demo-workspace.md']) {
      assert.ok(names.includes(needed), `${target} lacks ${needed}`);
    }
  }
  // dist/ is this machine's build again afterwards.
  const here = readdirSync(join(ROOT, 'dist', 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6'));
  assert.deepEqual(here, [process.platform]);
});
