/**
 * Config diagnostics as the editor computes them: the trainer's own `validate` (one set of rules)
 * on the shared config fixtures, each problem placed on its field's text in the file.
 */
import { strict as assert } from 'node:assert';
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';
import { spanOfField, spanOfKey } from '../../src/core/fieldRange';
import { validateConfig } from '../../src/core/python';
import { FIXTURES, ROOT, TRAINER, tempDir, testPython } from '../helpers';

const CONFIGS = join(FIXTURES, 'configs');
const expected = JSON.parse(readFileSync(join(CONFIGS, 'expected-errors.json'), 'utf8')) as
  Record<string, { field: string; check: string; says: string }>;
const env = () => ({ python: testPython(), trainerDir: TRAINER });

test('valid fixtures have no problems', async () => {
  for (const name of readdirSync(join(CONFIGS, 'valid'))) {
    const report = await validateConfig(env(), join(CONFIGS, 'valid', name));
    assert.ok(typeof report !== 'string', String(report));
    assert.deepEqual(report.problems, [], name);
    assert.equal(report.ok, true);
  }
});

for (const [name, expectation] of Object.entries(expected)) {
  if (name.startsWith('$')) continue;
  test(`invalid/${name}: the trainer names ${expectation.field || 'the file'} and the editor finds it`, async () => {
    const path = join(CONFIGS, 'invalid', name);
    const report = await validateConfig(env(), path);
    assert.ok(typeof report !== 'string', String(report));
    assert.equal(report.ok, false);
    const problem = report.problems[0]!;
    assert.equal(problem.field, expectation.field);
    assert.equal(problem.check, expectation.check);
    assert.ok(problem.message.includes(expectation.says) || `${problem.field}: ${problem.message}`.includes(expectation.says),
      problem.message);
    if (expectation.check === 'syntax') {
      assert.ok(problem.line !== null && problem.line >= 1, 'a syntax error carries its line');
      return;
    }
    const text = readFileSync(path, 'utf8');
    const span = spanOfField(text, problem.field);
    // Every problem gets a place in the file (its value, or its nearest present parent).
    assert.ok(span.length > 0 && span.offset + span.length <= text.length, `${problem.field} has no place`);
  });
}

test('a semantic problem lands exactly on the offending value', async () => {
  const path = join(CONFIGS, 'invalid', 'missing-prompt-file.bond.json');
  const report = await validateConfig(env(), path);
  assert.ok(typeof report !== 'string');
  const text = readFileSync(path, 'utf8');
  const span = spanOfField(text, report.problems[0]!.field);
  assert.equal(text.slice(span.offset, span.offset + span.length), '"../no-such-prompts.jsonl"');
});

test('a Python path that does not exist is named, with what to do', async () => {
  const { checkPython } = await import('../../src/core/python');
  const result = await checkPython('/no/such/python3', TRAINER);
  assert.equal(result.ok, false);
  assert.ok(!result.ok && /\/no\/such\/python3 does not exist.*bond\.pythonPath/.test(result.problem), JSON.stringify(result));
});

test('an unsaved buffer is checked as typed (stdin), its paths resolved against the file, with the rename the trainer suggests', async () => {
  const path = join(CONFIGS, 'valid', 'minimal.bond.json');
  const saved = readFileSync(path, 'utf8');
  const typed = saved.replace(/^\{/, '{"algoritm": "jbond",');
  const report = await validateConfig(env(), path, { text: typed });
  assert.ok(typeof report !== 'string', String(report));
  const problem = report.problems.find((p) => p.field === 'algoritm');
  assert.equal(problem?.rename_to, 'algorithm', JSON.stringify(report.problems));
  const span = spanOfKey(typed, problem!.field)!;
  assert.equal(typed.slice(span.offset, span.offset + span.length), '"algoritm"', 'the quick fix replaces the key itself');
  const clean = await validateConfig(env(), path, { text: saved });
  assert.ok(typeof clean !== 'string' && clean.problems.length === 0, JSON.stringify(clean));
});

test('a sweep file: the trainer checks it (every value applied to its base config) and the editor finds the parameter', async () => {
  const dir = tempDir('bond-sweep-');
  cpSync(join(ROOT, 'examples', 'demo', 'demo.bond.json'), join(dir, 'base.bond.json'));
  for (const name of ['prompts-train.jsonl', 'prompts-eval.jsonl']) cpSync(join(ROOT, 'examples', 'demo', name), join(dir, name));
  const text = '{"base": "base.bond.json", "parameters": [{"algorithm": ["jbond"], "train.lrr": [0.1]}],\n'
    + ' "objectives": [{"metric": "eval/reward/policy", "goal": "maximize"}]}';
  const path = join(dir, 'bad.sweep.json');
  writeFileSync(path, text);
  const report = await validateConfig(env(), path);
  assert.ok(typeof report !== 'string', String(report));
  assert.equal(report.ok, false);
  const problem = report.problems.find((p) => p.field === 'parameters[0].train.lrr');
  assert.ok(problem, JSON.stringify(report.problems));
  assert.match(problem.message, /did you mean 'lr'/);
  const span = spanOfField(text, problem.field);
  assert.equal(text.slice(span.offset, span.offset + span.length), '[0.1]');
  // a base the trainer refuses (here: the demo's reference model not made yet) is said once, on base
  const paper = join(dir, 'paper', 'jbond-vs-reinforce.sweep.json');
  cpSync(join(ROOT, 'examples', 'paper', 'jbond-vs-reinforce.sweep.json'), paper, { recursive: true });
  cpSync(join(ROOT, 'examples', 'demo'), join(dir, 'demo'), { recursive: true, filter: (source) => basename(source) !== 'build' });
  const example = await validateConfig(env(), paper);
  assert.ok(typeof example !== 'string', String(example));
  assert.deepEqual(example.problems.map((p) => p.field), ['base'], JSON.stringify(example.problems));
  assert.match(example.problems[0]!.message, /reference\.pt does not exist/);
});
