/** The trainer log read as it grows: appends, a character split across reads, a file cut back. */
import { strict as assert } from 'node:assert';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TextTail } from '../../src/core/textTail';
import { tempDir } from '../helpers';

test('a growing log is read as it grows, whole characters only, and again from the start when cut back', async () => {
  const path = join(tempDir(), 'trainer.log');
  const tail = new TextTail(path, 4);
  assert.deepEqual(await tail.read(), { text: '', reset: false }, 'not there yet');
  writeFileSync(path, 'ab');
  assert.deepEqual(await tail.read(), { text: 'ab', reset: false });
  appendFileSync(path, 'cé'); // é is two bytes: with 4-byte reads it arrives whole
  let text = '';
  for (let i = 0; i < 3; i++) text += (await tail.read()).text;
  assert.equal(text, 'cé');
  appendFileSync(path, 'x'.repeat(10));
  text = '';
  for (let i = 0; i < 5; i++) text += (await tail.read()).text;
  assert.equal(text, 'x'.repeat(10), 'in bounded slices');
  writeFileSync(path, 'new');
  assert.deepEqual(await tail.read(), { text: 'new', reset: true });
});
