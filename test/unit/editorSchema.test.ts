/** The schema the editor contributes for *.bond.json: the trainer's, with hovers that say default and bounds. */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers';

type Node = { properties?: Record<string, Node>; description?: string; markdownDescription?: string; default?: unknown };

test('hovers on config fields say the description, the default, the bounds or choices, and the TRL name', () => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { contributes: { jsonValidation: { url: string }[] } };
  const url = manifest.contributes.jsonValidation[0]!.url;
  const editor = JSON.parse(readFileSync(join(ROOT, url), 'utf8')) as Node;
  const trainer = JSON.parse(readFileSync(join(ROOT, 'contracts', 'schemas', 'config.schema.json'), 'utf8')) as Node;
  const beta = editor.properties!.bond!.properties!.beta!;
  assert.equal(beta.description, trainer.properties!.bond!.properties!.beta!.description, 'validation is the trainer\'s schema');
  assert.match(beta.markdownDescription ?? '', /default `0\.5`/);
  assert.match(beta.markdownDescription ?? '', /≥ 0 and ≤ 1/);
  const anchor = editor.properties!.bond!.properties!.anchor!;
  assert.match(anchor.markdownDescription ?? '', /one of `"fixed"`, `"hard"`, `"ema"`/);
  const checkpointing = JSON.stringify(editor).match(/"markdownDescription":"[^"]*TRL: `gradient_checkpointing`[^"]*"/);
  assert.ok(checkpointing, 'the TRL name stays in the hover');
  // every described field got its hover
  const missing: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (!node || typeof node !== 'object') return;
    const n = node as Node;
    if (typeof n.description === 'string' && typeof n.markdownDescription !== 'string') missing.push(path);
    for (const [key, value] of Object.entries(n)) if (key !== 'default' && key !== 'enum') walk(value, `${path}/${key}`);
  };
  walk(editor, '');
  assert.deepEqual(missing, []);
});
