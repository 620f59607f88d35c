import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunMeta } from '../../contracts/run-directory';
import { etaSeconds, formatDuration, liveReward, progressBar, shortDate, shownReward } from '../../src/core/format';
import { FIXTURES } from '../helpers';

const base = JSON.parse(readFileSync(join(FIXTURES, 'runs', 'completed', 'run.json'), 'utf8')) as RunMeta;

test('the ETA of a resumed run counts only the steps this process did', () => {
  const now = 1_000_000;
  // Resumed at step 50, 10 steps in 20 s since: 2 s a step, 40 steps left.
  const resumed: RunMeta = { ...base, started_at: now - 20, started_step: 50, step: 60, total_steps: 100 };
  assert.equal(etaSeconds(resumed, now * 1000), 80);
  assert.equal(etaSeconds({ ...resumed, step: 50 }, now * 1000), undefined, 'no pace before the first new step');
  assert.equal(etaSeconds({ ...resumed, started_step: 0 }, now * 1000), (20 / 60) * 40);
});

test('durations and bars', () => {
  assert.equal(formatDuration(59), '0:59');
  assert.equal(formatDuration(3671), '1:01:11');
  assert.equal(progressBar(1, 4, 8), '[##------]');
  assert.equal(progressBar(9, 4, 4), '[####]');
});

test('a runs-view row shows the held-out reward when there is one (every algorithm has it), short 24-hour dates', () => {
  const train = { kind: 'train', step: 3, time: 0, 'reward/policy': 0.25 } as const;
  const evaluation = { kind: 'eval', step: 3, time: 0, 'eval/reward/policy': 1.5 } as const;
  assert.deepEqual(shownReward(train, evaluation), { label: 'eval r', value: 1.5 });
  assert.deepEqual(shownReward(train, undefined), { label: 'r', value: 0.25 });
  // BoNBoN draws no policy samples in a step: no training reward, nothing shown until an evaluation
  assert.equal(shownReward({ kind: 'train', step: 1, time: 0, 'reward/bon': 1 }, undefined), undefined);
  const at = new Date(2026, 11, 1, 9, 5).getTime() / 1000;
  assert.equal(shortDate(at, new Date(2026, 11, 2).getTime()), 'Dec 1 09:05');
  assert.equal(shortDate(at, new Date(2027, 0, 2).getTime()), 'Dec 1, 2026 09:05');
});

test('the status bar shows the live training reward, and the held-out one for an algorithm without (BoNBoN)', () => {
  const train = { kind: 'train', step: 3, time: 0, 'reward/policy': 0.25 } as const;
  const evaluation = { kind: 'eval', step: 3, time: 0, 'eval/reward/policy': 1.5 } as const;
  assert.deepEqual(liveReward(train, evaluation), { label: 'r', value: 0.25 });
  assert.deepEqual(liveReward({ kind: 'train', step: 3, time: 0, 'bonbon/h': 2 }, evaluation), { label: 'eval r', value: 1.5 });
  assert.equal(liveReward({ kind: 'train', step: 3, time: 0 }, undefined), undefined);
});
