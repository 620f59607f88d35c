/**
 * The TypeScript side of the run-directory and config contracts: the same schemas and fixtures
 * the trainer's pytest suite checks (trainer/tests/test_config.py, test_contract_fixtures.py).
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import { parse as parseJsonc, type ParseError } from 'jsonc-parser';
import {
  declaredTrainMetrics, RUN_FOLDER, RUN_FORMAT_VERSION, type MetricRecord, type RunMeta, type SampleRecord,
} from '../../contracts/run-directory';

const CONTRACTS = join(__dirname, '..', '..', '..', 'contracts');
const FIXTURES = join(CONTRACTS, 'fixtures');
const ROOT = join(CONTRACTS, '..');

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
    const declared = declaredTrainMetrics(meta);
    assert.ok(declared.includes('loss/total'), 'the fixture declares its train charts');
    for (const record of metrics.filter((m) => m.kind === 'train')) {
      for (const name of declared) assert.equal(typeof record[name], 'number', name);
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
  // which train metrics a line carries is the algorithm's (run.json metric_groups); their names are not
  assert.equal(validateMetric({ kind: 'train', step: 1, time: 0, 'loss/total': 1 }), true);
  assert.equal(validateMetric({ kind: 'train', step: 1, time: 0, 'made/up': 1 }), false);
  assert.equal(validateMetric({ kind: 'train', step: 1, time: 0, 'loss/total': null }), false, 'absent, never null');
  assert.equal(validateMetric({ kind: 'train', time: 0 }), false, 'a line says its step');
  assert.equal(validateMetric({ kind: 'eval', step: 1, time: 0, 'made/up': 1 }), false);
  assert.equal(validateMetric({ kind: 'eval', step: 1, time: 0 }), false, 'evaluation is the same for every algorithm');
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

test('every command id lives in one table, equal to package.json (palette, menus, webview buttons)', async () => {
  const { COMMANDS } = await import('../../src/commandIds');
  const pkg = JSON.parse(readFileSync(join(CONTRACTS, '..', 'package.json'), 'utf8')) as {
    contributes: { commands: { command: string }[]; menus: Record<string, { command: string }[]> };
  };
  const declared = pkg.contributes.commands.map((c) => c.command).sort();
  assert.deepEqual(Object.values(COMMANDS).sort(), declared);
  const table = new Set<string>(Object.values(COMMANDS));
  for (const [menu, items] of Object.entries(pkg.contributes.menus)) {
    for (const item of items) assert.ok(table.has(item.command), `${menu} names ${item.command}, which is not in src/commandIds.ts`);
  }
});

test('the walkthrough: each step completes on one milestone\'s context key, its page exists, its links name real commands', async () => {
  const { MILESTONES, milestoneContextKey } = await import('../../src/milestones');
  const { COMMANDS } = await import('../../src/commandIds');
  const root = join(CONTRACTS, '..');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    contributes: { walkthroughs: { steps: { id: string; description: string; media: { markdown: string }; completionEvents: string[] }[] }[] };
  };
  const steps = pkg.contributes.walkthroughs[0]!.steps;
  assert.deepEqual(steps.map((step) => step.completionEvents), MILESTONES.map((m) => [`onContext:${milestoneContextKey(m)}`]),
    'one step per milestone, in order, completed by its context key (never by a click)');
  const commands = new Set<string>(Object.values(COMMANDS));
  for (const step of steps) {
    assert.ok(existsSync(join(root, step.media.markdown)), `${step.id}: ${step.media.markdown} is missing`);
    const linked = [...step.description.matchAll(/\(command:([\w.]+)\)/g)].map((m) => m[1]!);
    assert.ok(linked.length > 0 && linked.every((c) => commands.has(c)), `${step.id} links ${linked.join(', ')}`);
  }
});

test('the run folder: both sides take its names from run-folder.schema.json, and fixture runs follow it', () => {
  const layout = (JSON.parse(readFileSync(join(CONTRACTS, 'schemas', 'run-folder.schema.json'), 'utf8')) as {
    'x-layout': Record<string, { path: string }>;
  })['x-layout'];
  assert.equal(RUN_FOLDER.run, layout.run?.path);
  assert.equal(RUN_FOLDER.exports, layout.exports?.path);
  assert.equal(RUN_FOLDER.rankErrors, layout.rank_errors?.path);
  assert.equal(RUN_FOLDER.checkpointManifest, layout.checkpoint_manifest?.path);
  const python = readFileSync(join(CONTRACTS, '..', 'trainer', 'bond_trainer', 'run', 'layout.py'), 'utf8');
  assert.match(python, /LAYOUT.*load_schema\("run-folder"\)/, 'the trainer reads the same document');
  for (const kind of ['completed', 'failed']) {
    const files = readdirSync(join(FIXTURES, 'runs', kind));
    for (const name of [RUN_FOLDER.run, RUN_FOLDER.metrics, RUN_FOLDER.samples]) assert.ok(files.includes(name), `${kind} lacks ${name}`);
  }
});

test('run.json says what the editor needs of the algorithm: the N it distils, its summary, its charts', () => {
  const validate = compile('run');
  for (const kind of ['completed', 'failed']) {
    const meta = JSON.parse(readFileSync(join(FIXTURES, 'runs', kind, 'run.json'), 'utf8')) as RunMeta;
    assert.ok(validate(meta), describe(validate.errors));
    assert.equal(meta.distilled_n, 2);  // the fixtures are J-BOND runs: Best-of-2 of the anchor
    assert.ok(meta.config_summary?.some((item) => item.label === 'γ'));
    const quantile = meta.metric_groups?.find((group) => group.id === 'quantile');
    assert.deepEqual(quantile?.reference, { label: 'target −1/N (N=2)', value: -0.5 });
    assert.ok(meta.paths?.data.train.every((path) => path.startsWith('/')), 'paths are resolved by the trainer');
    assert.ok(meta.paths?.reference.kind);
  }
  // A killed run, as the extension records it, is valid too.
  const base = JSON.parse(readFileSync(join(FIXTURES, 'runs', 'completed', 'run.json'), 'utf8')) as RunMeta;
  const killed = { ...base, status: 'failed', error: { type: 'killed', step: 3, traceback: null, message: 'killed' } };
  assert.ok(validate(killed), describe(validate.errors));
  assert.equal(validate({ ...killed, error: { ...killed.error, type: 'vanished' } }), false);
});

test('the extension has an icon VS Code shows (a 128×128 PNG: the extensions list and the walkthrough card; SVG is refused there)', () => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { icon?: string };
  assert.ok(manifest.icon, 'package.json names an icon');
  const png = readFileSync(join(ROOT, manifest.icon));
  assert.equal(png.subarray(1, 4).toString('ascii'), 'PNG');
  assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [128, 128], 'IHDR width and height');
  const kept = readFileSync(join(ROOT, '.vscodeignore'), 'utf8').split('\n');
  assert.ok(kept.includes('!media/**'), 'the package keeps media/');
});

test('sweeps: the editor validates *.sweep.json with the trainer\'s schema, and the example sweep follows it', () => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { contributes: { jsonValidation: { fileMatch: string; url: string }[] } };
  const entry = manifest.contributes.jsonValidation.find((v) => v.fileMatch === '*.sweep.json');
  assert.ok(entry, 'package.json contributes a schema for *.sweep.json');
  // the package carries every schema the editor is told to load (.vscodeignore lists what it keeps)
  const kept = readFileSync(join(ROOT, '.vscodeignore'), 'utf8').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1));
  for (const { url } of manifest.contributes.jsonValidation) assert.ok(kept.includes(url.replace(/^\.\//, '')), `.vscodeignore keeps ${url}`);
  assert.deepEqual(JSON.parse(readFileSync(join(ROOT, entry.url), 'utf8')), JSON.parse(readFileSync(join(ROOT, 'contracts', 'schemas', 'sweep.schema.json'), 'utf8')));
  const validate = compile('sweep');
  const errors: ParseError[] = [];
  const example: unknown = parseJsonc(readFileSync(join(ROOT, 'examples', 'paper', 'jbond-vs-reinforce.sweep.json'), 'utf8'), errors, { allowTrailingComma: true });
  assert.deepEqual(errors, []);
  assert.ok(validate(example), JSON.stringify(validate.errors));
  // a misspelt field is refused, as the trainer refuses it
  assert.equal(validate({ base: 'a.bond.json', parameters: { 'train.lr': [0.1] }, objectives: [{ metric: 'eval/reward/policy', goal: 'maximize' }], sedes: [1] }), false);
  const folder = compile('sweep-folder');
  assert.equal(folder({ format_version: 1 }), false, 'sweep.json has required fields');
  // the Sweep view's fixture is what the trainer writes (trainer/tests/test_sweep.py checks the trainer against the same schema)
  const analysis = compile('sweep-analysis');
  const fixture: unknown = JSON.parse(readFileSync(join(ROOT, 'contracts', 'fixtures', 'sweeps', 'analysis.json'), 'utf8'));
  assert.ok(analysis(fixture), JSON.stringify(analysis.errors));
  assert.equal(analysis({ ...(fixture as object), importance_note: null }), false, 'importance_note always says something');
});
