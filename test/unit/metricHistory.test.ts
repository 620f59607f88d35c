import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MetricRecord } from '../../contracts/run-directory';
import { MetricHistory } from '../../src/core/metricHistory';
import { LineProblem, readMetricLine } from '../../src/core/readers';
import { FIXTURES } from '../helpers';

function fixtureLines(): MetricRecord[] {
  return readFileSync(join(FIXTURES, 'runs', 'completed', 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.trim())
    .map((l) => readMetricLine(JSON.parse(l)))
    .filter((r): r is MetricRecord => !(r instanceof LineProblem));
}

test('every line comes back from the columns as the reader gave it: float32 and float64 values exact, missing metrics absent, curves kept', () => {
  const lines = fixtureLines();
  assert.ok(lines.some((r) => r.kind === 'eval' && Array.isArray(r.bon_curve)), 'the fixture has eval lines with curves');
  const extra: MetricRecord[] = [
    { kind: 'train', step: 1000, time: 1.5, 'loss/total': Math.fround(0.3) },
    // a value a float32 cannot hold, after float32 ones: the column widens, nothing is rounded
    { kind: 'train', step: 1001, time: 2.5, 'loss/total': 0.1, 'late/metric': 1e-300 },
    { kind: 'eval', step: 1001, time: 3.5, 'eval/reward/policy': -7 },
  ];
  const history = new MetricHistory();
  history.addAll([...lines, ...extra]);
  assert.equal(history.length, lines.length + extra.length);
  const back = history.slice(0);
  assert.deepEqual(back, [...lines, ...extra]);
  assert.equal(history.record(lines.length + 1)['loss/total'], 0.1);
  assert.equal(history.record(lines.length)['late/metric'], undefined, 'a metric a line does not have stays absent');
  assert.deepEqual(history.slice(lines.length + 1, lines.length + 2), [extra[1]]);
  history.clear();
  assert.equal(history.length, 0);
  assert.deepEqual(history.slice(0), []);
});

test('a long run costs a few bytes per number, not an object per line: 4 for a float32, 8 for another float', () => {
  const lines = 100_000;
  const chunks = Math.ceil(lines / 65_536);
  // Every metric a float32 (as the trainer's tensors give them): 4 bytes a value, plus the line's
  // kind (1), its row (4), step and time (8 + 8); columns grow by chunks of 65,536 lines.
  const narrow = new MetricHistory();
  for (let step = 1; step <= lines; step++) narrow.add({ kind: 'train', step, time: 1e9 + step / 7, a: Math.fround(step / 3), b: Math.fround(-step), c: 0.5 });
  assert.equal(narrow.bytes, chunks * 65_536 * (1 + 4 + 8 + 8 + 3 * 4));
  assert.deepEqual(narrow.record(lines - 1), { kind: 'train', step: lines, time: 1e9 + lines / 7, a: Math.fround(lines / 3), b: -lines, c: 0.5 });
  // One column of values a float32 cannot hold: that column alone takes 8 bytes a value.
  const wide = new MetricHistory();
  for (let step = 1; step <= lines; step++) wide.add({ kind: 'train', step, time: step, a: Math.fround(step / 3), b: step / 3 });
  assert.equal(wide.bytes, chunks * 65_536 * (1 + 4 + 8 + 8 + 4 + 8));
  assert.equal(wide.record(lines - 1).b, lines / 3);
  // An eval line's metrics take no room on train lines: 100 eval lines of 10 metrics cost one eval chunk.
  const mixed = new MetricHistory();
  for (let step = 1; step <= lines; step++) {
    mixed.add({ kind: 'train', step, time: step, a: 1 });
    if (step % 1000 === 0) mixed.add({ kind: 'eval', step, time: step, ...Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`eval/m${i}`, i])) });
  }
  assert.equal(mixed.bytes, Math.ceil((lines + 100) / 65_536) * 65_536 * (1 + 4) + chunks * 65_536 * (8 + 8 + 4) + 65_536 * (8 + 8 + 10 * 4));
  assert.deepEqual(mixed.slice(1000, 1002).map((r) => [r.kind, r.step]), [['eval', 1000], ['train', 1001]], 'the file\'s order of kinds');
  // The fixture's train line (27 numbers): under 8 bytes a number, however its values came.
  const train = fixtureLines().find((r) => r.kind === 'train')!;
  const fixture = new MetricHistory();
  for (let step = 1; step <= lines; step++) fixture.add({ ...train, step, time: train.time + step });
  const numbers = Object.values(train).filter((v) => typeof v === 'number').length;
  assert.ok(fixture.bytes / (chunks * 65_536) <= 5 + 8 * numbers, `${(fixture.bytes / lines).toFixed(0)} bytes a line for ${numbers} numbers`);
  assert.deepEqual(fixture.record(lines - 1), { ...train, step: lines, time: train.time + lines });
});

test('a reduced history keeps real lines: first and last, every spike and dip of every metric, all of a short kind', () => {
  const history = new MetricHistory();
  const lines = 20_000;
  const spikeAt = 12_345;
  const dipAt = 4_321;
  for (let step = 1; step <= lines; step++) {
    history.add({ kind: 'train', step, time: step, loss: step === spikeAt ? 1e6 : Math.sin(step / 100), kl: step === dipAt ? -50 : 0.5 });
    if (step % 200 === 0) history.add({ kind: 'eval', step, time: step, reward: step / 1000 });
  }
  assert.equal(history.reduced(history.length, 10).records.length, history.length, 'under the limit: the whole history');
  const buckets = 50;
  const { records, lines: total } = history.reduced(1_000, buckets);
  assert.equal(total, history.length);
  const train = records.filter((r) => r.kind === 'train');
  const evals = records.filter((r) => r.kind === 'eval');
  assert.ok(train.length <= buckets * (2 + 2 * 2), `${train.length} train lines for ${buckets} buckets of 2 metrics`);
  assert.equal(evals.length, lines / 200, 'a kind with few lines (≤ 2 × buckets) is kept whole');
  const steps = train.map((r) => r.step);
  assert.equal(steps[0], 1);
  assert.equal(steps.at(-1), lines);
  assert.ok(steps.includes(spikeAt) && steps.includes(dipAt), 'the spike and the dip are drawn');
  assert.deepEqual(steps, [...steps].sort((a, b) => a - b), 'in file order');
  for (const record of train) assert.deepEqual(record, { kind: 'train', step: record.step, time: record.step, loss: record.step === spikeAt ? 1e6 : Math.sin(record.step / 100), kl: record.step === dipAt ? -50 : 0.5 });
});
