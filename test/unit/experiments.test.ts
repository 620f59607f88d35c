/** The experiments table's rows from run states: the varying config fields, the headline numbers, sweeps and reader problems. */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MetricRecord, RunMeta } from '../../contracts/run-directory';
import { ExperimentsModel } from '../../src/core/experiments';
import type { RunState } from '../../src/core/runStore';
import { FIXTURES } from '../helpers';

const base = JSON.parse(readFileSync(join(FIXTURES, 'runs', 'completed', 'run.json'), 'utf8')) as RunMeta;

function run(dir: string, config: Record<string, unknown>, extra: Partial<RunState> = {}, meta: Partial<RunMeta> = {}): RunState {
  return { dir, meta: { ...base, ...meta, config: { ...base.config, ...config } }, status: 'completed', skippedLines: 0, metaNotes: [], ...extra };
}

test('rows carry only the config fields that vary across the runs; a new run that adds a varying field asks for a snapshot', () => {
  const model = new ExperimentsModel();
  const a = run('/r/a', { train: { lr: 0.001, steps: 10 } }, { latestEval: { kind: 'eval', step: 10, time: 1, 'eval/reward/policy': 1.5, 'eval/kl/policy_ref': 0.7 } as MetricRecord },
    { started_at: 1000, updated_at: 1090, created_at: 990 });
  const b = run('/r/b', { train: { lr: 0.003, steps: 10 } }, { metaNotes: ['unknown field "extra"'] },
    { sweep: { name: 'lr', folder: '/s/lr', trial: 2, parameters: { 'train.lr': 0.003 }, seed: 1 } });
  assert.equal(model.updateFields([a, b]), true);
  assert.deepEqual(model.fields, ['train.lr']);
  const rowA = model.row(a);
  assert.deepEqual(rowA.config, { 'train.lr': '0.001' });
  assert.equal(rowA.reward, 1.5);
  assert.equal(rowA.kl, 0.7);
  assert.equal(rowA.effectiveN, null, 'a metric the evaluation lacks is blank, not 0');
  assert.equal(rowA.durationS, 90);
  assert.equal(rowA.startedAt, 1_000_000);
  assert.equal(rowA.sweep, null);
  const rowB = model.row(b);
  assert.deepEqual([rowB.sweep, rowB.trial, rowB.seed], ['lr', 2, 1]);
  assert.match(rowB.problem ?? '', /unknown field/);
  assert.equal(model.updateFields([a, b]), false, 'the same runs: the same columns');
  const c = run('/r/c', { train: { lr: 0.003, steps: 20 } });
  assert.equal(model.updateFields([a, b, c]), true);
  assert.deepEqual(model.fields, ['train.lr', 'train.steps']);
  assert.equal(model.updateFields([a, b]), true, 'a removed run can settle a field again');
  assert.deepEqual(model.fields, ['train.lr']);
});
