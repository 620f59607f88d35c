import { strict as assert } from 'node:assert';
import { appendFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { JsonlTail } from '../../src/core/jsonlTail';
import { fromGuard, readMetricLine } from '../../src/core/readers';
import { tempDir } from '../helpers';

interface Item { n: number }
const isItem = (value: unknown): value is Item => typeof (value as Item)?.n === 'number';
const readItem = fromGuard(isItem, () => 'n is not a number');

test('returns only what was appended since the last read', async () => {
  const file = join(tempDir(), 'a.jsonl');
  writeFileSync(file, '{"n":1}\n{"n":2}\n');
  const tail = new JsonlTail(file, readItem);
  assert.deepEqual((await tail.read()).records, [{ n: 1 }, { n: 2 }]);
  assert.deepEqual((await tail.read()).records, []);
  appendFileSync(file, '{"n":3}\n');
  assert.deepEqual((await tail.read()).records, [{ n: 3 }]);
  assert.equal(tail.position, 24);
});

test('a partial last line waits for its newline', async () => {
  const file = join(tempDir(), 'a.jsonl');
  writeFileSync(file, '{"n":1}\n{"n":');
  const tail = new JsonlTail(file, readItem);
  assert.deepEqual((await tail.read()).records, [{ n: 1 }]);
  appendFileSync(file, '2}');
  assert.deepEqual((await tail.read()).records, []);
  appendFileSync(file, '\n');
  assert.deepEqual((await tail.read()).records, [{ n: 2 }]);
  assert.equal(tail.skippedTotal, 0);
});

test('multi-byte characters split across reads stay intact', async () => {
  const file = join(tempDir(), 'a.jsonl');
  const line = JSON.stringify({ n: 1, text: 'π‖π_ref — ünïcödé' }) + '\n';
  writeFileSync(file, line);
  const tail = new JsonlTail(file, readItem, 7);  // slices cut through characters
  const result = await tail.readAll();
  assert.deepEqual(result.records, [JSON.parse(line)]);
});

test('garbage and schema-violating lines are skipped and counted, never fatal', async () => {
  const file = join(tempDir(), 'metrics.jsonl');
  writeFileSync(file, [
    'not json at all',
    JSON.stringify({ kind: 'train', step: 1, time: 0 }),  // misses the required loss terms
    JSON.stringify({ kind: 'eval', step: 2, time: 0, 'eval/reward/policy': 1, 'eval/reward/ref': 0, 'eval/reward/bon': 1,
      'eval/kl/policy_ref': 0.1, 'eval/quantile/log_policy': -0.3, 'eval/effective_n': 2, 'eval/win_rate_vs_bon': 0.4, bon_curve: [0, 1] }),
  ].join('\n') + '\n');
  const tail = new JsonlTail(file, readMetricLine);
  const result = await tail.read();
  // The reader needs kind and step only: a train line without the loss terms is kept.
  assert.deepEqual(result.records.map((r) => r.kind), ['train', 'eval']);
  assert.equal(result.skipped, 1);
  assert.deepEqual(tail.skips, { count: 1, firstLine: 1, reason: 'not JSON ("not json at all")' });
});

test('lines the reader cannot use are counted with the first one\'s number and reason; unknown metrics are kept', async () => {
  const file = join(tempDir(), 'metrics.jsonl');
  writeFileSync(file, [
    JSON.stringify({ kind: 'train', step: 1, time: 5, 'loss/total': 1, 'my/own_metric': 7, note: 'text is left out' }),
    '',
    JSON.stringify({ kind: 'debug', step: 2 }),
    JSON.stringify({ kind: 'train', step: -1 }),
    JSON.stringify({ kind: 'train', step: 3, 'newer/metric': 0.5 }),
  ].join('\n') + '\n');
  const tail = new JsonlTail(file, readMetricLine);
  const { records, skipped } = await tail.read();
  assert.deepEqual(records, [{ kind: 'train', step: 1, time: 5, 'loss/total': 1, 'my/own_metric': 7 },
    { kind: 'train', step: 3, time: 0, 'newer/metric': 0.5 }]);
  assert.equal(skipped, 2);
  assert.deepEqual(tail.skips, { count: 2, firstLine: 3, reason: '"kind" is "debug", not "train" or "eval"' });
  // A cut-back file (resume) starts the count again.
  truncateSync(file, 0);
  appendFileSync(file, JSON.stringify({ kind: 'eval', step: 1 }) + '\n');
  const again = await tail.read();
  assert.equal(again.reset, true);
  assert.equal(tail.skips, undefined);
});

test('a replaced file (new inode) is read again from the start, with reset', async () => {
  const dir = tempDir();
  const file = join(dir, 'a.jsonl');
  writeFileSync(file, '{"n":1}\n{"n":2}\n');
  const tail = new JsonlTail(file, readItem);
  await tail.read();
  const other = join(dir, 'b.jsonl');
  writeFileSync(other, '{"n":7}\n');
  renameSync(other, file);
  const replaced = await tail.read();
  assert.equal(replaced.reset, true);
  assert.deepEqual(replaced.records, [{ n: 7 }]);
});

test('a cut-back hidden by an equal-size append is caught by rewind()', async () => {
  const file = join(tempDir(), 'a.jsonl');
  writeFileSync(file, '{"n":1}\n{"n":2}\n');
  const tail = new JsonlTail(file, readItem);
  await tail.read();
  truncateSync(file, 8);
  appendFileSync(file, '{"n":9}\n');  // same size as before: invisible to the size check
  assert.deepEqual(await tail.read(), { records: [], reset: false, skipped: 0 });
  tail.rewind();  // what the run store does when run.json's resume_count changes
  const result = await tail.read();
  assert.equal(result.reset, true);
  assert.deepEqual(result.records, [{ n: 1 }, { n: 9 }]);
});

test('a shrink is detected', async () => {
  const file = join(tempDir(), 'a.jsonl');
  writeFileSync(file, '{"n":1}\n{"n":2}\n{"n":3}\n');
  const tail = new JsonlTail(file, readItem);
  await tail.read();
  truncateSync(file, 8);
  const result = await tail.read();
  assert.equal(result.reset, true);
  assert.deepEqual(result.records, [{ n: 1 }]);
});

test('a growing file read in bounded slices yields every record once', async () => {
  const file = join(tempDir(), 'a.jsonl');
  writeFileSync(file, '');
  const tail = new JsonlTail(file, readItem, 64);
  const seen: number[] = [];
  for (let batch = 0; batch < 20; batch++) {
    appendFileSync(file, Array.from({ length: 37 }, (_, i) => JSON.stringify({ n: batch * 37 + i })).join('\n') + '\n');
    if (batch % 3 === 0) appendFileSync(file, '');
    seen.push(...(await tail.readAll()).records.map((r) => r.n));
  }
  assert.deepEqual(seen, Array.from({ length: 740 }, (_, i) => i));
});

test('a missing file is empty, not an error', async () => {
  const tail = new JsonlTail(join(tempDir(), 'none.jsonl'), readItem);
  assert.deepEqual(await tail.read(), { records: [], reset: false, skipped: 0 });
});

test('readLatest reads a large file\'s last lines only, grows its window until enough is found, then follows appends', async () => {
  const file = join(tempDir(), 'big.jsonl');
  // 20,000 lines (~0.3 MB); the one line marked "eval" is 6,000 lines from the end.
  const lines = Array.from({ length: 20_000 }, (_, i) => JSON.stringify(i === 14_000 ? { n: i, eval: true } : { n: i }));
  writeFileSync(file, lines.join('\n') + '\n{"n":');
  const tail = new JsonlTail(file, fromGuard((v: unknown): v is Item & { eval?: boolean } => isItem(v), () => 'n is not a number'));
  let windows = 0;
  const result = await tail.readLatest((records) => {
    windows++;
    return records.some((r) => r.eval === true);
  }, 1024);
  const numbers = result.records.map((r) => r.n);
  assert.ok(windows > 1, 'the 1 KiB window held no eval line: it grew');
  assert.ok(numbers.includes(14_000), 'the window reaches the eval line');
  assert.ok(numbers.length < 20_000 && numbers[0]! > 0, `only the file's end is read (${numbers.length} lines)`);
  assert.deepEqual(numbers, Array.from({ length: numbers.length }, (_, i) => 20_000 - numbers.length + i), 'whole lines, in order, up to the last complete one');
  assert.equal(result.reset, false);
  assert.equal(tail.skippedTotal, 0, 'the window\'s cut first line is dropped, not counted as garbage');
  assert.equal(tail.lineNumbersFromStart, false);
  appendFileSync(file, '20000}\n{"n":20001}\n');
  assert.deepEqual((await tail.read()).records.map((r) => r.n), [20_000, 20_001], 'the partial last line completes; then appends only');
  tail.rewind();
  assert.equal((await tail.readAll()).records.length, 20_002, 'a rewind reads the whole history');
  assert.equal(tail.lineNumbersFromStart, true);
});

test('readLatest of a small file reads it whole; its window stops growing at the limit', async () => {
  const file = join(tempDir(), 'small.jsonl');
  writeFileSync(file, '{"n":1}\n{"n":2}\n');
  const small = new JsonlTail(file, readItem);
  assert.deepEqual((await small.readLatest(() => false)).records, [{ n: 1 }, { n: 2 }]);
  assert.equal(small.lineNumbersFromStart, true);
  const big = join(tempDir(), 'big.jsonl');
  writeFileSync(big, Array.from({ length: 5_000 }, (_, n) => JSON.stringify({ n })).join('\n') + '\n');
  const bounded = new JsonlTail(big, readItem);
  const result = await bounded.readLatest(() => false, 512, 4096);
  assert.ok(result.records.length > 0 && result.records.length <= 4096 / 8, `at most the limit's lines (${result.records.length})`);
  assert.equal(result.records.at(-1)?.n, 4_999);
});
