/** The run queue's files as the editor keeps them: written whole and valid, read leniently, reordered, pruned. */
import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Ajv from 'ajv';
import {
  moveEntry, newEntry, pending, queueDirectory, readQueue, readQueueState, runnerAlive, startable, writeQueue, type QueueFile,
} from '../../src/core/queueFiles';
import { ROOT, tempDir } from '../helpers';

const validate = new Ajv({ allErrors: true, strict: false }).compile(JSON.parse(readFileSync(join(ROOT, 'contracts', 'schemas', 'queue.schema.json'), 'utf8')) as object);

test('queue.json is written whole and to the schema the runner reads; entries move and prune as the runs view asks', async () => {
  const root = tempDir('bond-queue-');
  const runs = join(root, '.bond', 'runs');
  const folder = queueDirectory(runs);
  assert.equal(folder, join(root, '.bond', 'queue'));
  assert.deepEqual(readQueue(folder, runs).entries, [], 'no queue yet: an empty one');
  const [a, b, c] = ['a', 'b', 'c'].map((name, i) => newEntry(`/w/${name}.bond.json`, name, [], 1_800_000_000_000 + i));
  const queue: QueueFile = { format_version: 1, workers: 2, devices: ['0', '1'], paused: false, runs_dir: runs, entries: [a!, b!, c!] };
  await writeQueue(folder, queue);
  const written: unknown = JSON.parse(readFileSync(join(folder, 'queue.json'), 'utf8'));
  assert.ok(validate(written), JSON.stringify(validate.errors));
  assert.deepEqual(readQueue(folder, runs).entries.map((e) => e.name), ['a', 'b', 'c']);
  assert.deepEqual(moveEntry(queue.entries, c!.id, -1).map((e) => e.name), ['a', 'c', 'b']);
  assert.deepEqual(moveEntry(queue.entries, a!.id, -1).map((e) => e.name), ['a', 'b', 'c'], 'the first stays first');
  assert.deepEqual(moveEntry(queue.entries, b!.id, 5).map((e) => e.name), ['a', 'c', 'b']);
  assert.notEqual(a!.id, b!.id);
  // the runner's word: a done, b stopped (it continues), c not begun
  writeFileSync(join(folder, 'queue-state.json'), JSON.stringify({ format_version: 1, pid: 999_999_999, host: 'h', status: 'running', updated_at: 1,
    entries: { [a!.id]: { status: 'completed', run_dir: '/r/a' }, [b!.id]: { status: 'stopped', run_dir: '/r/b' }, junk: 7 } }));
  const state = readQueueState(folder);
  assert.equal(runnerAlive(state), false, 'its pid is gone');
  assert.deepEqual(pending(queue, state).map((e) => e.name), ['b', 'c']);
  assert.deepEqual(startable(queue, state).map((e) => e.name), ['b', 'c']);
  assert.equal(state.entries[b!.id]!.run_dir, '/r/b');
  // a broken file reads as an empty queue; the next write makes it whole
  writeFileSync(join(folder, 'queue.json'), '{"entries": [');
  assert.deepEqual(readQueue(folder, runs).entries, []);
});
