/** The Sweep view's model from a sweep folder: analysis.json read leniently and merged with the trials' live runs; the seeds' spread. */
import { strict as assert } from 'node:assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import type { MetricRecord, RunMeta } from '../../contracts/run-directory';
import type { RunState } from '../../src/core/runStore';
import { readSweepView } from '../../src/core/sweepAnalysis';
import { spread, t95 } from '../../webview/sweep/stats';
import { ROOT, FIXTURES, tempDir } from '../helpers';

const ANALYSIS = join(ROOT, 'contracts', 'fixtures', 'sweeps', 'analysis.json');

function trialRun(folder: string, trial: number, seed: number, status: string, step: number, latestEval?: Record<string, number>): RunState {
  const meta = JSON.parse(readFileSync(join(FIXTURES, 'runs', 'completed', 'run.json'), 'utf8')) as RunMeta;
  return {
    dir: join(folder, 'runs', `paper-t${String(trial).padStart(4, '0')}-s${seed}`),
    meta: { ...meta, status, step, total_steps: 150, sweep: { name: 'paper', folder, trial, parameters: { algorithm: 'reinforce', 'reinforce.beta': 0.1 }, seed } },
    status, skippedLines: 0, metaNotes: [],
    ...(latestEval ? { latestEval: { kind: 'eval', step, time: 1, ...latestEval } as MetricRecord } : {}),
  };
}

test('analysis.json and the live runs make one view: the study’s word where written, the runs’ where newer', () => {
  const folder = tempDir('bond-sweep-view-');
  mkdirSync(join(folder, 'runs'), { recursive: true });
  writeFileSync(join(folder, 'sweep.json'), JSON.stringify({ name: 'paper', status: 'running', pid: 999_999_999, method: 'grid', parameters: ['algorithm', 'anchor.ema_eta', 'reinforce.beta'], seeds: [1, 2], max_trials: 3 }));
  const analysis = JSON.parse(readFileSync(ANALYSIS, 'utf8')) as { trials: unknown[] };
  analysis.trials.push({ number: 'two' }); // a newer or broken writer: skipped, and said
  writeFileSync(join(folder, 'analysis.json'), JSON.stringify(analysis));
  const view = readSweepView(folder, [
    // trial 1 resumed: its seed 1 trains again (the study still says running, seed 1 stopped)
    trialRun(folder, 1, 1, 'running', 40, { 'eval/reward/policy': 1.5 }),
    // trial 2 started after analysis.json was written: built from its run
    trialRun(folder, 2, 1, 'running', 10),
    trialRun(join(folder, '..', 'other'), 7, 1, 'completed', 150),
  ]);
  assert.equal(view.name, 'paper');
  assert.equal(view.active, false, 'sweep.json names a process that is gone');
  assert.deepEqual(view.trials.map((t) => [t.number, t.state]), [[0, 'complete'], [1, 'running'], [2, 'running']]);
  const [done, resumed, fresh] = view.trials;
  assert.deepEqual(done!.params, { algorithm: '"jbond"', 'anchor.ema_eta': '0.01' }, 'values as JSON text');
  assert.deepEqual(done!.seeds.map((s) => [s.seed, s.dir, s.status, s.evaluation?.['eval/reward/policy']]),
    [[1, join(folder, 'runs', 'paper-t0000-s1'), 'completed', 1.0], [2, join(folder, 'runs', 'paper-t0000-s2'), 'completed', 1.2]]);
  assert.deepEqual(resumed!.seeds.map((s) => [s.status, s.step, s.evaluation?.['eval/reward/policy'] ?? null]), [['running', 40, 1.5], [null, null, null]],
    'the live run’s status, step and latest evaluation win over the file’s');
  assert.deepEqual(fresh!.params, { algorithm: '"reinforce"', 'reinforce.beta': '0.1' });
  assert.equal(fresh!.seeds.length, 1);
  assert.deepEqual(view.paretoFront, [0]);
  assert.deepEqual(view.best.map((b) => b.trial), [0, 0]);
  assert.equal(view.importance, null);
  assert.match(view.importanceNote, /needs 3 completed/);
  assert.equal(view.maxTrials, 3);
  assert.equal(view.notes.length, 1);
  assert.match(view.notes[0]!, /1 trial entry without a number skipped/);
});

test('a sweep folder without analysis.json (or with a broken one) still lists its trials from their runs, and says why there is no more', () => {
  const folder = tempDir('bond-sweep-view-');
  const runs = [trialRun(folder, 0, 1, 'completed', 150, { 'eval/reward/policy': 2 }), trialRun(folder, 0, 2, 'pruned', 60)];
  let view = readSweepView(folder, runs);
  assert.deepEqual(view.trials.map((t) => [t.number, t.state, t.seeds.length]), [[0, 'pruned', 2]]);
  assert.equal(view.name, basename(folder), 'the folder’s name stands in');
  assert.equal(view.notes.length, 2);
  assert.match(view.notes.join('\n'), /sweep\.json is missing[\s\S]*analysis\.json is not written yet/);
  writeFileSync(join(folder, 'analysis.json'), '{"format_version": 1, "trials": [');
  view = readSweepView(folder, runs);
  assert.match(view.notes.join('\n'), /analysis\.json: not JSON/);
  assert.equal(view.trials.length, 1);
});

test('the seeds’ spread: sample standard deviation and the t-based 95% interval of the mean', () => {
  assert.equal(spread([]), null);
  assert.deepEqual(spread([2]), { n: 1, mean: 2, std: null, ci95: null });
  const s = spread([1, 2, 3])!;
  assert.equal(s.mean, 2);
  assert.ok(Math.abs(s.std! - 1) < 1e-12);
  assert.ok(Math.abs(s.ci95! - 4.303 / Math.sqrt(3)) < 1e-12);
  assert.equal(t95(1), 12.706);
  assert.equal(t95(100), 1.96);
});
