import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { fieldPath, spanOfField, spanOfKey } from '../../src/core/fieldRange';

const text = `{
  // comment
  "bond": {"n": 1, "betta": 0.5},
  "data": {"train": ["a.jsonl", "missing.jsonl"]},
}`;

const at = (field: string) => {
  const span = spanOfField(text, field);
  return text.slice(span.offset, span.offset + span.length);
};

test('dotted fields with indexes become JSON paths', () => {
  assert.deepEqual(fieldPath('data.train[1]'), ['data', 'train', 1]);
  assert.deepEqual(fieldPath('bond.n'), ['bond', 'n']);
  assert.deepEqual(fieldPath(''), []);
});

test('a present field spans its value', () => {
  assert.equal(at('bond.n'), '1');
  assert.equal(at('data.train[1]'), '"missing.jsonl"');
  assert.equal(at('bond.betta'), '0.5');
});

test('an absent field points at its nearest present parent', () => {
  assert.equal(at('bond.gamma'), '"bond"');
  assert.equal(at('eval.n_max').length, 1);  // nothing of eval exists: the document start
});

test('a sweep\'s dotted parameter keys are found whole ("train.lr" is one key of parameters)', () => {
  const sweep = `{"parameters": [{"algorithm": ["jbond"]}, {"train.lr": {"low": 0.1, "high": 0.01}, "jbond.beta": [1]}]}`;
  const of = (field: string) => {
    const span = spanOfField(sweep, field);
    return sweep.slice(span.offset, span.offset + span.length);
  };
  assert.equal(of('parameters[1].train.lr'), '{"low": 0.1, "high": 0.01}');
  assert.equal(of('parameters[1].jbond.beta'), '[1]');
  assert.equal(of('parameters[1].train.lr.step'), '"train.lr"');
  // an absent field in a space (an array element, no key of its own) marks that space
  assert.equal(of('parameters[0].reinforce.beta'), '{"algorithm": ["jbond"]}');
  const key = spanOfKey(sweep, 'parameters[1].jbond.beta');
  assert.equal(key && sweep.slice(key.offset, key.offset + key.length), '"jbond.beta"');
});
