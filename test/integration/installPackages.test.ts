/**
 * The editor's Install button path, for real: a missing optional package named by the trainer is
 * pip-installed into a real interpreter (a fresh venv) through scripts/bootstrap-python --install,
 * with the bootstrap's pip arguments; and export-onnx's failure is read with what to install.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isValidateReport } from '../../contracts/trainer-cli';
import { installPackages } from '../../src/core/python';
import { exportOnnxCall } from '../../src/core/trainerCli';
import { ROOT, tempDir, testPython } from '../helpers';

/** A minimal pure-Python wheel (what pip installs with no network and no build tools). */
function writeWheel(dir: string, name: string): string {
  const files: Record<string, string> = {
    [`${name}/__init__.py`]: 'VALUE = 42\n',
    [`${name}-0.1.dist-info/METADATA`]: `Metadata-Version: 2.1\nName: ${name}\nVersion: 0.1\n`,
    [`${name}-0.1.dist-info/WHEEL`]: 'Wheel-Version: 1.0\nGenerator: bond-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n',
  };
  const record = Object.entries(files).map(([path, body]) => {
    const digest = createHash('sha256').update(body).digest('base64url');
    return `${path},sha256=${digest},${Buffer.byteLength(body)}`;
  });
  files[`${name}-0.1.dist-info/RECORD`] = [...record, `${name}-0.1.dist-info/RECORD,,`].join('\n') + '\n';
  const staging = join(dir, 'staging');
  for (const [path, body] of Object.entries(files)) {
    mkdirSync(join(staging, path, '..'), { recursive: true });
    writeFileSync(join(staging, path), body);
  }
  const wheel = join(dir, `${name}-0.1-py3-none-any.whl`);
  execFileSync(testPython(), ['-c', 'import shutil, sys; shutil.make_archive(sys.argv[1], "zip", sys.argv[2])', wheel, staging]);
  execFileSync('mv', [`${wheel}.zip`, wheel]);
  return wheel;
}

test('installPackages pip-installs into the interpreter in use, through the bootstrap script, and fails with what to do', async () => {
  const dir = tempDir('bond-install-');
  const venv = join(dir, 'venv');
  execFileSync(testPython(), ['-m', 'venv', venv]);
  const python = join(venv, 'bin', 'python');
  const wheel = writeWheel(dir, 'bondprobe');
  const before = spawnSync(python, ['-c', 'import bondprobe'], { encoding: 'utf8' });
  assert.notEqual(before.status, 0, 'the package is missing before');
  const previous = process.env.BOND_PIP_ARGS;
  process.env.BOND_PIP_ARGS = '--no-index';
  try {
    let output = '';
    await installPackages(ROOT, python, [wheel], (text) => { output += text; });
    assert.match(output, /installed: /);
    const after = spawnSync(python, ['-c', 'import bondprobe; print(bondprobe.VALUE)'], { encoding: 'utf8' });
    assert.equal(after.stdout.trim(), '42', after.stderr);
    await assert.rejects(installPackages(ROOT, python, ['no-such-package-bond-test'], () => undefined),
      /pip could not install no-such-package-bond-test into .*venv\/bin\/python/);
  } finally {
    if (previous === undefined) delete process.env.BOND_PIP_ARGS;
    else process.env.BOND_PIP_ARGS = previous;
  }
});

test('the trainer\'s failures carry what to install: export-onnx\'s JSON, a validate problem\'s install list', () => {
  const call = exportOnnxCall('/m', '/o', 'policy');
  const said = { ok: false, problem: "ONNX export needs the onnx package in the trainer's Python: pip install 'onnx>=1.16'", install: ['onnx>=1.16'] };
  assert.deepEqual(call.read({ code: 2, stdout: `${JSON.stringify(said)}\n`, stderr: 'error: …' }), said);
  assert.deepEqual(call.read({ code: 1, stdout: '', stderr: 'Traceback\nboom\nRuntimeError: x' }),
    { ok: false, problem: 'Traceback boom RuntimeError: x', install: [] });
  assert.equal(call.read({ code: 0, stdout: 'wrote …', stderr: '' }), null);
  const problem = { field: 'logging.tensorboard', message: 'needs…', check: 'semantic', line: null, column: null };
  assert.ok(isValidateReport({ ok: false, config: 'x', problems: [{ ...problem, install: ['tensorboard>=2.14'] }] }));
  assert.ok(!isValidateReport({ ok: false, config: 'x', problems: [{ ...problem, install: 'tensorboard' }] }), 'install must be a list of strings');
});
