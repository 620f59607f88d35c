/**
 * The TypeScript side of the run-directory and config contracts: the same schemas and fixtures
 * the trainer's pytest suite checks (trainer/tests/test_config.py, test_contract_fixtures.py).
 */
import { strict as assert } from 'node:assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { parse as parseJsonc, type ParseError } from 'jsonc-parser';
import {
  REQUIRED_TRAIN_METRICS, RUN_FORMAT_VERSION, type MetricRecord, type RunMeta, type SampleRecord,
} from '../../contracts/run-directory';

const CONTRACTS = join(__dirname, '..', '..', '..', 'contracts');
const FIXTURES = join(CONTRACTS, 'fixtures');

function compile(name: string): ValidateFunction {
  const schema: unknown = JSON.parse(readFileSync(join(CONTRACTS, 'schemas', `${name}.schema.json`), 'utf8'));
  const ajv = new Ajv({ allErrors: true, strict: false });
  return ajv.compile(schema as object);
}

function lines(path: string): unknown[] {
  return readFileSync(path, 'utf8').split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line));
}

function describe(errors: ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');
}

/** ajv's "/bond/betta" or additionalProperty → the dotted field name the trainer reports. */
function dottedField(error: ErrorObject): string {
  const parts = error.instancePath.split('/').filter(Boolean);
  const params = error.params as Record<string, unknown>;
  if (typeof params.additionalProperty === 'string') parts.push(params.additionalProperty);
  if (typeof params.missingProperty === 'string') parts.push(params.missingProperty);
  return parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : (i ? `.${p}` : p))).join('').replace(/\.\[/g, '[');
}

const validateRun = compile('run');
const validateMetric = compile('metrics');
const validateSample = compile('sample');
const validateConfig = compile('config');

for (const kind of readdirSync(join(FIXTURES, 'runs'))) {
  test(`run fixture "${kind}" validates against run, metrics and sample schemas`, () => {
    const folder = join(FIXTURES, 'runs', kind);
    const meta = JSON.parse(readFileSync(join(folder, 'run.json'), 'utf8')) as RunMeta;
    assert.ok(validateRun(meta), describe(validateRun.errors));
    assert.equal(meta.format_version, RUN_FORMAT_VERSION);
    assert.equal(meta.status, kind);
    const metrics = lines(join(folder, 'metrics.jsonl')) as MetricRecord[];
    assert.ok(metrics.length > 0);
    for (const record of metrics) assert.ok(validateMetric(record), describe(validateMetric.errors));
    for (const record of metrics.filter((m) => m.kind === 'train')) {
      for (const name of REQUIRED_TRAIN_METRICS) assert.equal(typeof record[name], 'number', name);
    }
    for (const record of lines(join(folder, 'samples.jsonl')) as SampleRecord[]) {
      assert.ok(validateSample(record), describe(validateSample.errors));
      assert.ok(record.bon.winner < record.bon.candidates.length);
    }
  });
}

test('a completed fixture carries a summary and eval lines with the Best-of-N curve', () => {
  const folder = join(FIXTURES, 'runs', 'completed');
  const meta = JSON.parse(readFileSync(join(folder, 'run.json'), 'utf8')) as RunMeta;
  assert.ok(meta.summary !== null && meta.summary.step === meta.step);
  const evals = (lines(join(folder, 'metrics.jsonl')) as MetricRecord[]).filter((m) => m.kind === 'eval');
  assert.ok(evals.length > 0 && Array.isArray(evals[0]?.bon_curve));
});

test('the schemas reject what the trainer rejects: a bad metric line and a bad sample', () => {
  assert.equal(validateMetric({ kind: 'train', step: 1, time: 0 }), false, 'train lines need the loss terms');
  assert.equal(validateMetric({ kind: 'eval', step: 1, time: 0, 'made/up': 1 }), false);
  assert.equal(validateSample({ step: 1, time: 0, prompt_id: 0, prompt: 'p', policy: [], anchor: [], bon: {} }), false);
});

const expected = JSON.parse(readFileSync(join(FIXTURES, 'configs', 'expected-errors.json'), 'utf8')) as
  Record<string, { field: string; check: string; says: string }>;

for (const name of readdirSync(join(FIXTURES, 'configs', 'valid'))) {
  test(`config fixture valid/${name} passes the schema`, () => {
    const errors: ParseError[] = [];
    const config: unknown = parseJsonc(readFileSync(join(FIXTURES, 'configs', 'valid', name), 'utf8'), errors,
      { allowTrailingComma: true });
    assert.deepEqual(errors, []);
    assert.ok(validateConfig(config), describe(validateConfig.errors));
  });
}

for (const [name, expectation] of Object.entries(expected)) {
  if (name.startsWith('$')) continue;
  test(`config fixture invalid/${name}: ${expectation.check} check on "${expectation.field}"`, () => {
    const errors: ParseError[] = [];
    const config: unknown = parseJsonc(readFileSync(join(FIXTURES, 'configs', 'invalid', name), 'utf8'), errors,
      { allowTrailingComma: true });
    if (expectation.check === 'syntax') {
      assert.ok(errors.length > 0, 'the JSONC parser must report the syntax error');
      return;
    }
    const valid = validateConfig(config);
    if (expectation.check === 'semantic') {
      assert.ok(valid, `semantic rules are beyond the schema; it must pass: ${describe(validateConfig.errors)}`);
      return;
    }
    assert.equal(valid, false);
    const fields = (validateConfig.errors ?? []).map(dottedField);
    assert.ok(fields.includes(expectation.field), `expected an error on ${expectation.field}, got ${fields.join(', ')}`);
  });
}
