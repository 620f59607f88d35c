/** Sweep folders as the editor reads them: the runs folders the store watches, sweep.json read leniently, runs grouped by sweep. */
import { strict as assert } from 'node:assert';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunMeta } from '../../contracts/run-directory';
import type { RunState } from '../../src/core/runStore';
import { groupBySweep, isSweepGroup, sweepFolderFor, sweepProgress, sweepRunsDirectories, sweepsDirectory } from '../../src/core/sweepFolders';
import { FIXTURES, tempDir } from '../helpers';

function runIn(dir: string, status: string, sweep?: RunMeta['sweep']): RunState {
  const meta = JSON.parse(readFileSync(join(FIXTURES, 'runs', 'completed', 'run.json'), 'utf8')) as RunMeta;
  return { dir, meta: { ...meta, status, ...(sweep ? { sweep } : {}) }, status, skippedLines: 0, metaNotes: [] };
}

test('each sweep folder\'s runs/ is watched beside the runs directory; a sweep without runs yet adds none', () => {
  const root = tempDir('bond-sweeps-');
  const runs = join(root, '.bond', 'runs');
  const sweeps = sweepsDirectory(runs);
  assert.equal(sweeps, join(root, '.bond', 'sweeps'));
  assert.deepEqual(sweepRunsDirectories(sweeps), [], 'no sweeps folder: nothing');
  mkdirSync(join(sweeps, 'a', 'runs'), { recursive: true });
  mkdirSync(join(sweeps, 'starting'), { recursive: true });
  writeFileSync(join(sweeps, 'stray.txt'), '');
  assert.deepEqual(sweepRunsDirectories(sweeps), [join(sweeps, 'a', 'runs')]);
});

test('runs are grouped under their sweep, with its progress and whether its process lives; others stay top level', () => {
  const root = tempDir('bond-sweeps-');
  const folder = join(root, 'sweeps', 'beta');
  mkdirSync(join(folder, 'runs'), { recursive: true });
  writeFileSync(join(folder, 'sweep.json'), JSON.stringify({ name: 'beta-sweep', status: 'running', pid: process.pid, sweep_file: '/w/b.sweep.json' }));
  const trial = (n: number, seed: number) => ({ name: 'beta-sweep', folder, trial: n, parameters: { 'jbond.beta': n / 10 }, seed });
  const plain = runIn(join(root, 'runs', 'plain'), 'completed');
  const items = groupBySweep([
    runIn(join(folder, 'runs', 'beta-sweep-t0000-s1'), 'completed', trial(0, 1)), plain,
    runIn(join(folder, 'runs', 'beta-sweep-t0001-s1'), 'running', trial(1, 1)),
    runIn(join(folder, 'runs', 'beta-sweep-t0002-s1'), 'pruned', trial(2, 1)),
  ]);
  assert.equal(items.length, 2);
  const [group, other] = items;
  assert.ok(isSweepGroup(group));
  assert.equal(other, plain);
  assert.equal(group.name, 'beta-sweep');
  assert.equal(group.active, true, 'its sweep process (this one, here) is alive');
  assert.equal(group.sweepFile, '/w/b.sweep.json');
  assert.equal(group.runs.length, 3);
  assert.equal(sweepProgress(group), '1 done · 1 running · 1 pruned');
  // a sweep.json that is not readable yet: the folder's name stands in, not running
  writeFileSync(join(folder, 'sweep.json'), '{"name": ');
  const [unreadable] = groupBySweep([runIn(join(folder, 'runs', 'x'), 'completed', { name: 'beta-sweep', trial: 0, parameters: {}, seed: 0 })]);
  assert.ok(isSweepGroup(unreadable));
  assert.equal(unreadable.active, false);
  assert.equal(unreadable.folder, folder, 'without sweep.folder, the folder above runs/');
});

test('a sweep file runs in sweeps/<its name>, the name as the file gives it (comments allowed)', () => {
  const root = tempDir('bond-sweeps-');
  const file = join(root, 'paper.sweep.json');
  cpSync(join(__dirname, '..', '..', '..', 'examples', 'paper', 'jbond-vs-reinforce.sweep.json'), file);
  assert.equal(sweepFolderFor(file, join(root, 'sweeps')), join(root, 'sweeps', 'jbond-vs-reinforce'));
  writeFileSync(file, '{"base": "x.bond.json"}');
  assert.equal(sweepFolderFor(file, join(root, 'sweeps')), join(root, 'sweeps', 'paper'));
});
