/** The run manager and run store with the real trainer on CPU: complete, stop, resume. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunMeta } from '../../contracts/run-directory';
import { furtherStepsProblem, RunManager } from '../../src/core/runManager';
import { RunStore } from '../../src/core/runStore';
import { ROOT, TRAINER, tempDir, testPython, waitFor } from '../helpers';

function tinyWorkspace(steps: number, extra: Record<string, unknown> = {}): { config: string; runs: string } {
  const dir = tempDir('bond-int-');
  writeFileSync(join(dir, 'prompts.jsonl'), Array.from({ length: 12 }, (_, i) => JSON.stringify({ prompt: `p${i}:` })).join('\n') + '\n');
  const config = {
    name: 'tiny', algorithm: 'jbond',
    policy: { gpt: { layers: 1, heads: 2, width: 32, context: 32 } },
    reward: { type: 'keyword', pattern: '[ -~]' },
    data: { train: ['prompts.jsonl'], eval_fraction: 0.25 },
    train: { steps, batch_size: 4, lr: 0.003, warmup_steps: 0, seed: 3, device: 'cpu' },
    sampling: { max_new_tokens: 8 },
    eval: { every: 0, prompts: 2, policy_samples: 2, mc_samples: 4, n_max: 4, bon_n: 2 },
    samples: { every: 0 },
    checkpoint: { every: 5, keep_last: 2 },
    ...extra,
  };
  writeFileSync(join(dir, 'tiny.bond.json'), JSON.stringify(config));
  return { config: join(dir, 'tiny.bond.json'), runs: join(dir, '.bond', 'runs') };
}

const manager = () => new RunManager(async () => ({ python: testPython(), trainerDir: TRAINER }));
const meta = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunMeta;

test('a tiny config completes, and the store follows it live to the end', async () => {
  const { config, runs } = tinyWorkspace(6);
  const store = new RunStore({ runsDirectories: () => [runs], pollIntervalMs: 200 });
  await store.start();
  const seenStatuses = new Set<string>();
  store.onDidChangeRuns((changed) => changed.forEach((r) => seenStatuses.add(r.status)));
  const run = await manager().start({ configPath: config, runsDirectory: runs, cwd: runs });
  assert.equal((await run.exited).code, 0);
  await store.refresh();
  const state = store.get(run.dir);
  store.dispose();
  assert.equal(state?.status, 'completed');
  assert.equal(state?.latest?.step, 6);
  assert.ok(state?.meta.summary, 'the final evaluation wrote a summary');
  assert.ok(seenStatuses.has('completed'));
});

test('stop mid-run leaves stopped with a checkpoint; resume continues to the end', async () => {
  const { config, runs } = tinyWorkspace(400);
  const m = manager();
  const run = await m.start({ configPath: config, runsDirectory: runs, cwd: runs });
  await waitFor(() => (existsSync(join(run.dir, 'run.json')) && meta(run.dir).step >= 3 ? true : undefined), 'three steps', 60_000);
  assert.equal(await m.stop(run.dir, 60_000), 'stopped');
  const stopped = meta(run.dir);
  assert.equal(stopped.status, 'stopped');
  const checkpoint = stopped.checkpoints[stopped.checkpoints.length - 1]!;
  assert.equal(checkpoint.step, stopped.step);
  assert.ok(existsSync(join(run.dir, checkpoint.path, 'model.pt')));
  const resumed = await m.resume(run.dir, runs, ['train.steps=' + String(stopped.step + 3)]);
  assert.equal((await resumed.exited).code, 0);
  const after = meta(run.dir);
  assert.equal(after.status, 'completed');
  assert.equal(after.step, stopped.step + 3);
  assert.equal(after.resume_count, 1);
});

test('Train Further: a completed run resumed with more steps trains on to the new total', async () => {
  const { config, runs } = tinyWorkspace(4, { eval: { every: 0, prompts: 2, policy_samples: 2, mc_samples: 4, n_max: 4, bon_n: 2 } });
  const m = manager();
  const run = await m.start({ configPath: config, runsDirectory: runs, cwd: runs });
  assert.equal((await run.exited).code, 0);
  assert.equal(meta(run.dir).status, 'completed');
  assert.equal(furtherStepsProblem('4', 4), 'more than the 4 steps the run already completed');
  const refused = await m.resume(run.dir, runs, ['train.steps=4']);
  const refusal = await refused.exited;
  assert.equal(refusal.code, 2);
  assert.match(refusal.stderrTail, /already completed all 4 steps; to train further/);
  const extended = await m.resume(run.dir, runs, ['train.steps=7']);
  assert.equal((await extended.exited).code, 0);
  const after = meta(run.dir);
  assert.equal(after.status, 'completed');
  assert.equal(after.step, 7);
  assert.equal(after.summary?.step, 7);
});

test('distributed.nproc_per_node 2 launches torchrun: two ranks train, stop together and resume', async () => {
  const { config, runs } = tinyWorkspace(400, { distributed: { nproc_per_node: 2 } });
  const m = manager();
  const run = await m.start({ configPath: config, runsDirectory: runs, cwd: runs });
  await waitFor(() => (existsSync(join(run.dir, 'run.json')) && meta(run.dir).step >= 3 ? true : undefined), 'three steps', 90_000);
  const running = meta(run.dir);
  assert.equal(running.world_size, 2);
  assert.match(running.model ?? '', /byte GPT/);
  assert.equal(await m.stop(run.dir, 60_000), 'stopped');
  const stopped = meta(run.dir);
  assert.equal(stopped.status, 'stopped');
  assert.equal(stopped.checkpoints[stopped.checkpoints.length - 1]?.step, stopped.step);
  // Resume with one process: the world size may change between stop and resume.
  const resumed = await m.resume(run.dir, runs, ['train.steps=' + String(stopped.step + 2), 'distributed.nproc_per_node=1']);
  assert.equal((await resumed.exited).code, 0);
  const after = meta(run.dir);
  assert.equal(after.status, 'completed');
  assert.equal(after.world_size, 1);
});

test('the headless CLI runs a config to its summary, and rejects bad usage with exit 2', () => {
  const { config, runs } = tinyWorkspace(4);
  const cli = join(ROOT, 'dist', 'cli.js');
  const env = { ...process.env, BOND_PYTHON: testPython() };
  const ok = spawnSync(process.execPath, [cli, 'run', config, '--runs-dir', runs], { env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /Summary after 4 steps/);
  assert.match(ok.stdout, /\[#{24}\] 4\/4/);
  const bad = spawnSync(process.execPath, [cli, 'run', join(runs, 'nope.bond.json')], { env, encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /nope\.bond\.json does not exist/);
  const invalid = spawnSync(process.execPath, [cli, 'run', config, '--runs-dir', runs, '--set', 'bond.n=1'], { env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(invalid.status, 2);
  assert.match(invalid.stderr, /bond\.n: must be ≥ 2/);
});

test('workspace files cannot shadow the trainer: a torch.py and a bond_trainer/ beside the config never run, on either path', async () => {
  for (const safePath of [true, false]) {
    const { config, runs } = tinyWorkspace(2, {
      reward: { type: 'python', function: 'reward.py:score' },
    });
    const folder = join(config, '..');
    const marker = join(folder, 'SHADOWED');
    writeFileSync(join(folder, 'torch.py'), `open(${JSON.stringify(marker)}, 'a').write('torch.py ran\\n')\nraise SystemExit(9)\n`);
    mkdirSync(join(folder, 'bond_trainer'));
    writeFileSync(join(folder, 'bond_trainer', '__init__.py'), `open(${JSON.stringify(marker)}, 'a').write('bond_trainer/ ran\\n')\n`);
    writeFileSync(join(folder, '__main__.py'), '');
    // The reward's own folder is importable (its helper module), appended after the trainer's paths.
    writeFileSync(join(folder, 'helper.py'), 'def length(text):\n    return float(len(text))\n');
    writeFileSync(join(folder, 'reward.py'), 'import helper\nimport sys\n'
      + 'def score(prompts, completions):\n    assert not any(p in ("", ".") for p in sys.path), sys.path\n'
      + '    return [helper.length(c) for c in completions]\n');
    const m = new RunManager(async () => ({ python: testPython(), trainerDir: TRAINER, safePath }));
    const run = await m.start({ configPath: config, runsDirectory: runs, cwd: folder });
    const exit = await run.exited;
    assert.equal(exit.code, 0, `safePath ${safePath}: ${exit.stderrTail}`);
    assert.equal(existsSync(marker), false, `safePath ${safePath}: ${existsSync(marker) ? readFileSync(marker, 'utf8') : ''}`);
    assert.equal(meta(run.dir).status, 'completed');
  }
});
