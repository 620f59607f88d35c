/** Runs told apart, named and noted: labels, and the editor's own file in the run folder. */
import { strict as assert } from 'node:assert';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { distinctLabels, readAnnotations, writeAnnotations } from '../../src/core/annotations';
import { RunStore, runLabel } from '../../src/core/runStore';
import { FIXTURES, tempDir } from '../helpers';

test('two runs of one name are told apart by when they started, and by their folder if that is shared too', () => {
  const at = (h: number, m: number, s: number) => new Date(2026, 11, 1, h, m, s).getTime() / 1000;
  const labels = distinctLabels([
    { dir: '/r/demo-jbond-1', name: 'demo-jbond', createdAt: at(9, 48, 3) },
    { dir: '/r/demo-jbond-2', name: 'demo-jbond', createdAt: at(10, 2, 41) },
    { dir: '/r/other', name: 'other', createdAt: at(10, 2, 41) },
    { dir: '/r/x-1', name: 'x', createdAt: at(11, 0, 0) },
    { dir: '/r/x-2', name: 'x', createdAt: at(11, 0, 0) },
    { dir: '/r/renamed', name: 'demo-jbond', label: 'quick-beta03', createdAt: at(9, 0, 0) },
  ]);
  assert.deepEqual(Object.fromEntries(labels), {
    '/r/demo-jbond-1': 'demo-jbond · 12-01 09:48:03', '/r/demo-jbond-2': 'demo-jbond · 12-01 10:02:41', '/r/other': 'other',
    '/r/x-1': 'x · 12-01 11:00:00 · x-1', '/r/x-2': 'x · 12-01 11:00:00 · x-2', '/r/renamed': 'quick-beta03',
  });
  assert.equal(new Set(labels.values()).size, labels.size, 'every label is distinct');
});

test('annotations live in bond-studio.json: written atomically, fields it does not know kept, run.json untouched', async () => {
  const runs = tempDir();
  const a = join(runs, 'a');
  const b = join(runs, 'b');
  cpSync(join(FIXTURES, 'runs', 'completed'), a, { recursive: true });
  cpSync(join(FIXTURES, 'runs', 'completed'), b, { recursive: true });
  const runJson = readFileSync(join(a, 'run.json'), 'utf8');
  const store = new RunStore({ runsDirectories: () => [runs], watchFiles: false });
  await store.refresh();
  const [la, lb] = [runLabel(store.get(a)!), runLabel(store.get(b)!)];
  assert.notEqual(la, lb, `two copies of one run read alike: ${la}`);
  writeFileSync(join(a, 'bond-studio.json'), JSON.stringify({ colour: '#f00' }));
  await writeAnnotations(a, { label: '  quick-beta03 ', note: 'β 0.3, lr 3e-4', tags: ['sweep', 'sweep', ' baseline '] });
  assert.deepEqual(JSON.parse(readFileSync(join(a, 'bond-studio.json'), 'utf8')),
    { colour: '#f00', label: 'quick-beta03', note: 'β 0.3, lr 3e-4', tags: ['sweep', 'baseline'] });
  assert.equal(readFileSync(join(a, 'run.json'), 'utf8'), runJson, 'run.json is the trainer\'s');
  await store.refresh();
  assert.equal(runLabel(store.get(a)!), 'quick-beta03');
  assert.equal(runLabel(store.get(b)!), store.get(b)!.meta.name, 'no longer shares its name with another run');
  assert.deepEqual(store.get(a)!.annotations?.tags, ['sweep', 'baseline']);
  await writeAnnotations(a, { label: '', tags: [] });
  assert.deepEqual(await readAnnotations(a), { note: 'β 0.3, lr 3e-4' });
  writeFileSync(join(b, 'bond-studio.json'), '{"label": 42, "tags": "x"');
  assert.deepEqual(await readAnnotations(b), {}, 'an unreadable file is read as no annotations');
  store.dispose();
});
