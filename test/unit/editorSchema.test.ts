/** The schema the editor contributes for *.bond.json: the trainer's, with hovers that say default and bounds. */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Ajv from 'ajv';
import { ROOT } from '../helpers';

type Node = {
  properties?: Record<string, Node>; description?: string; markdownDescription?: string; default?: unknown;
  deprecationMessage?: string; enum?: unknown[];
};

function editorSchema(): Node {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { contributes: { jsonValidation: { url: string }[] } };
  return JSON.parse(readFileSync(join(ROOT, manifest.contributes.jsonValidation[0]!.url), 'utf8')) as Node;
}

test('hovers on config fields say the description, the default, the bounds or choices, and the TRL name', () => {
  const editor = editorSchema();
  const trainer = JSON.parse(readFileSync(join(ROOT, 'contracts', 'schemas', 'config.schema.json'), 'utf8')) as Node;
  const beta = editor.properties!.bond!.properties!.beta!;
  assert.equal(beta.description, trainer.properties!.bond!.properties!.beta!.description, 'validation is the trainer\'s schema');
  assert.match(beta.markdownDescription ?? '', /default `0\.5`/);
  assert.match(beta.markdownDescription ?? '', /≥ 0 and ≤ 1/);
  const anchor = editor.properties!.anchor!.properties!.kind!;
  assert.match(anchor.markdownDescription ?? '', /one of `"fixed"`, `"hard"`, `"ema"`, `null`/);
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

test('fields of the older layout are marked moved, not unknown, and still validate in the editor', () => {
  const editor = editorSchema();
  const moved = JSON.parse(readFileSync(join(ROOT, 'contracts', 'schemas', 'config.moved-fields.json'), 'utf8')) as
    { moved: { from: string; to: string; algorithms?: string[] }[] };
  const everywhere = moved.moved.filter((m) => !m.algorithms);
  assert.ok(everywhere.length >= 5);
  for (const { from, to } of everywhere) {
    const [section, key] = from.split('.') as [string, string];
    const old = editor.properties![section]!.properties![key];
    assert.ok(old, `${from} is in the editor's schema`);
    assert.match(old.deprecationMessage ?? '', new RegExp(`Moved to ${to.replace('.', '\\.')}`), from);
    assert.equal(old.default, undefined, `${from} suggests no default: new files use ${to}`);
  }
  assert.deepEqual(editor.properties!.bond!.properties!.anchor!.enum, editor.properties!.anchor!.properties!.kind!.enum);
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(editor as object);
  const legacy = { data: { train: ['p.jsonl'] }, bond: { anchor: 'hard', anchor_period: 5, gamma: 0.1 } };
  assert.ok(validate(legacy), JSON.stringify(validate.errors));
  assert.equal(validate({ ...legacy, bond: { anchor: 'sometimes' } }), false, 'a moved field keeps its choices');
  assert.equal(validate({ ...legacy, bond: { anchr: 'hard' } }), false, 'an unknown field is still unknown');
  // the trainer's own schema, which validates only after the fields are moved, does not know them
  const trainer = new Ajv({ allErrors: true, strict: false }).compile(
    JSON.parse(readFileSync(join(ROOT, 'contracts', 'schemas', 'config.schema.json'), 'utf8')) as object);
  assert.equal(trainer(legacy), false);
});
