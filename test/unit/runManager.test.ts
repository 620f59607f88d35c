/** The run manager against a fake trainer that is a real child process (test/fixtures/fake_trainer). */
import { strict as assert } from 'node:assert';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import type { RunMeta } from '../../contracts/run-directory';
import { isPidAlive } from '../../src/core/process';
import { RunManager, configName, furtherStepsProblem, markKilled, newRunDirectory } from '../../src/core/runManager';
import { FAKE_TRAINER, FIXTURES, tempDir, testPython, waitFor } from '../helpers';

const manager = () => new RunManager(async () => ({ python: testPython(), trainerDir: FAKE_TRAINER }));

function setup(mode: string, steps = 5): { config: string; runs: string } {
  process.env.FAKE_MODE = mode;
  process.env.FAKE_STEPS = String(steps);
  const dir = tempDir();
  const config = join(dir, 'fake.bond.json');
  writeFileSync(config, '{ // comments are fine\n "name": "fake run", "data": {"train": ["p.jsonl"]} }');
  return { config, runs: join(dir, 'runs') };
}

const meta = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunMeta;
const steps = (dir: string) => (existsSync(join(dir, 'metrics.jsonl')) ? readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).length : 0);

afterEach(() => {
  delete process.env.FAKE_MODE;
  delete process.env.FAKE_STEPS;
});

test('run folders are named after the config and never collide', async () => {
  const runs = tempDir();
  const when = new Date(2026, 10, 26, 9, 5, 7);
  const first = newRunDirectory(runs, 'my run/1', when);
  assert.equal(first, join(runs, 'my-run-1-20261126-090507'));
  writeFileSync(join(runs, 'x'), '');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(first);
  assert.equal(newRunDirectory(runs, 'my run/1', when), `${first}-2`);
  const { config } = setup('normal');
  assert.equal(await configName(config), 'fake run');
});

test('two starts of one config in the same second get separate folders', async () => {
  const { config, runs } = setup('normal', 2);
  const m = manager();
  const [a, b] = await Promise.all([1, 2].map(() => m.start({ configPath: config, runsDirectory: runs, cwd: runs })));
  assert.notEqual(a!.dir, b!.dir);
  assert.deepEqual([(await a!.exited).code, (await b!.exited).code], [0, 0]);
  assert.equal(meta(a!.dir).status, 'completed');
  assert.equal(meta(b!.dir).status, 'completed');
});

test('start runs the trainer detached and it completes', async () => {
  const { config, runs } = setup('normal');
  const run = await manager().start({ configPath: config, runsDirectory: runs, cwd: runs });
  const output: string[] = [];
  run.output.event((o) => output.push(o.text));
  const exit = await run.exited;
  assert.equal(exit.code, 0);
  assert.equal(meta(run.dir).status, 'completed');
  assert.equal(steps(run.dir), 5);
  assert.match(output.join(''), /fake trainer running/);
});

test('stop sends SIGINT to the group and waits for stopped', async () => {
  const { config, runs } = setup('slow', 100);
  const m = manager();
  const run = await m.start({ configPath: config, runsDirectory: runs, cwd: runs });
  await waitFor(() => steps(run.dir) >= 2 || undefined, 'two steps');
  assert.equal(await m.stop(run.dir, 10_000), 'stopped');
  assert.equal(meta(run.dir).status, 'stopped');
  assert.equal((await run.exited).code, 0);
  assert.equal(m.active.length, 0);
});

test('a trainer that ignores SIGINT is killed after the timeout, with its children, and run.json says so', async () => {
  const { config, runs } = setup('ignore-sigint', 1000);
  const m = manager();
  const run = await m.start({ configPath: config, runsDirectory: runs, cwd: runs });
  const grandchild = await waitFor(() => (existsSync(join(run.dir, 'grandchild.pid'))
    ? Number(readFileSync(join(run.dir, 'grandchild.pid'), 'utf8')) || undefined : undefined), 'the grandchild');
  const started = Date.now();
  assert.equal(await m.stop(run.dir, 1500), 'killed');
  assert.ok(Date.now() - started >= 1500);
  const exit = await run.exited;
  assert.equal(exit.signal, 'SIGKILL');
  await waitFor(() => !isPidAlive(grandchild) || undefined, 'the grandchild to die', 5000);
  const after = meta(run.dir);
  assert.equal(after.status, 'failed');
  assert.equal(after.error?.type, 'killed');
  assert.match(after.error?.message ?? '', /did not stop within 2 s/);
});

test('a crash ends with exit 1 and the trainer’s own failure in run.json', async () => {
  const { config, runs } = setup('crash');
  const run = await manager().start({ configPath: config, runsDirectory: runs, cwd: runs });
  const exit = await run.exited;
  assert.equal(exit.code, 1);
  assert.match(exit.stderrTail, /raised ValueError/);
  assert.equal(meta(run.dir).status, 'failed');
});

test('a config error ends with exit 2 and the message, and no run folder', async () => {
  const { config, runs } = setup('config-error');
  const run = await manager().start({ configPath: config, runsDirectory: runs, cwd: runs });
  const exit = await run.exited;
  assert.equal(exit.code, 2);
  assert.match(exit.stderrTail, /bond\.n: must be ≥ 2/);
  assert.equal(existsSync(run.dir), false, 'the reserved run folder is removed again');
});

test('a run started by another window is stopped through its pid (reattach after reload)', async () => {
  const { config, runs } = setup('slow', 100);
  const first = manager();
  const run = await first.start({ configPath: config, runsDirectory: runs, cwd: runs });
  await waitFor(() => steps(run.dir) >= 1 || undefined, 'a step');
  const afterReload = manager();  // knows nothing of the process but what run.json says
  assert.equal(await afterReload.stop(run.dir, 10_000), 'stopped');
  assert.equal(meta(run.dir).status, 'stopped');
  assert.equal(await afterReload.stop(run.dir, 1000), 'not-running');
});

test('resume continues a stopped run from its config', async () => {
  const { config, runs } = setup('slow', 6);
  const m = manager();
  const run = await m.start({ configPath: config, runsDirectory: runs, cwd: runs });
  await waitFor(() => steps(run.dir) >= 2 || undefined, 'two steps');
  await m.stop(run.dir, 10_000);
  const resumed = await m.resume(run.dir, runs);
  assert.equal((await resumed.exited).code, 0);
  const after = meta(run.dir);
  assert.equal(after.status, 'completed');
  assert.equal(after.resume_count, 1);
  assert.equal(steps(run.dir), 6);
});

test('resume refuses when the config is gone, saying which', async () => {
  const { config, runs } = setup('normal', 2);
  const m = manager();
  const run = await m.start({ configPath: config, runsDirectory: runs, cwd: runs });
  await run.exited;
  const { rmSync } = await import('node:fs');
  rmSync(config);
  await assert.rejects(m.resume(run.dir, runs), /fake\.bond\.json no longer exists/);
});

test('Train Further accepts only a whole number above the steps already completed', () => {
  assert.equal(furtherStepsProblem('300', 150), undefined);
  assert.equal(furtherStepsProblem(' 151 ', 150), undefined);
  assert.match(furtherStepsProblem('150', 150) ?? '', /more than the 150 steps/);
  assert.match(furtherStepsProblem('12.5', 10) ?? '', /whole number/);
  assert.match(furtherStepsProblem('', 10) ?? '', /whole number of steps, e\.g\. 20/);
  assert.match(furtherStepsProblem('1e3', 10) ?? '', /whole number/);
});

test('a killed run of a newer trainer is marked in its run.json as written: no reader defaults are written back', async () => {
  const dir = join(tempDir(), 'run');
  cpSync(join(FIXTURES, 'runs', 'completed'), dir, { recursive: true });
  const written = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as Record<string, unknown>;
  delete written.torch_version;
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...written, status: 'running', gpu_hours: 2 }));
  await markKilled(dir, 3000);
  const after = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(after.status, 'failed');
  assert.equal((after.error as { type: string }).type, 'killed');
  assert.equal(after.gpu_hours, 2, 'fields this version does not know are kept');
  assert.equal('torch_version' in after, false, 'a field the trainer did not write stays unwritten');
});
