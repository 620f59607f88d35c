import { strict as assert } from 'node:assert';
import { appendFileSync, cpSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import type { MetricRecord, RunMeta } from '../../contracts/run-directory';
import { localHost } from '../../src/core/process';
import { readMetricLine } from '../../src/core/readers';
import { RECHECKED_PER_PASS, RunStore, deletableRunProblem, displayStatus, readRunMeta, type MetricsEvent } from '../../src/core/runStore';
import { FIXTURES, tempDir } from '../helpers';

function copyFixture(kind: string, runs: string, name = kind): string {
  const dir = join(runs, name);
  cpSync(join(FIXTURES, 'runs', kind), dir, { recursive: true });
  return dir;
}

function editMeta(dir: string, change: Partial<RunMeta>): void {
  const meta = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunMeta;
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...meta, ...change }));
}

const store = (runs: string, extra: Partial<ConstructorParameters<typeof RunStore>[0]> = {}) =>
  new RunStore({ runsDirectories: () => [runs], watchFiles: false, ...extra });

test('finds the runs in a runs directory and reads their status and latest metrics', async () => {
  const runs = tempDir();
  copyFixture('completed', runs);
  copyFixture('failed', runs);
  writeFileSync(join(runs, 'not-a-run.txt'), 'x');
  const s = store(runs);
  await s.refresh();
  assert.deepEqual(s.runs.map((r) => r.status).sort(), ['completed', 'failed']);
  const completed = s.get(join(runs, 'completed'))!;
  assert.equal(completed.latest?.kind, 'train');
  assert.equal(completed.latestEval?.kind, 'eval');
  assert.equal(completed.latest?.step, completed.meta.step);
  assert.equal(s.get(join(runs, 'failed'))!.meta.error?.type, 'reward');
  s.dispose();
});

test('appended metrics arrive as events carrying only the new lines', async () => {
  const runs = tempDir();
  const dir = copyFixture('completed', runs);
  const s = store(runs);
  const events: MetricsEvent[] = [];
  s.onDidAppendMetrics((e) => events.push(e));
  await s.refresh();
  const first = events[0]!.records.length;
  const line = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n')[0]!;
  const record = { ...(JSON.parse(line) as MetricRecord), step: 99 };
  appendFileSync(join(dir, 'metrics.jsonl'), JSON.stringify(record) + '\n{"broken": \n');
  await s.refresh();
  assert.equal(events.length, 2);
  assert.deepEqual(events[1]!.records.map((r) => r.step), [99]);
  assert.ok(first > 1);
  assert.equal(s.get(dir)!.latest?.step, 99);
  s.dispose();
});

test('a resume (resume_count changes) replays the metrics from the start', async () => {
  const runs = tempDir();
  const dir = copyFixture('completed', runs);
  const s = store(runs);
  const events: MetricsEvent[] = [];
  s.onDidAppendMetrics((e) => events.push(e));
  await s.refresh();
  editMeta(dir, { resume_count: 1, status: 'running' });
  await s.refresh();
  assert.equal(events[1]?.reset, true);
  assert.equal(events[1]?.records.length, events[0]?.records.length);
  s.dispose();
});

test('a running run with a stale heartbeat and a dead pid is lost; a fresh heartbeat is running', () => {
  const base = JSON.parse(readFileSync(join(FIXTURES, 'runs', 'completed', 'run.json'), 'utf8')) as RunMeta;
  const now = 1_000_000_000_000;
  const running: RunMeta = { ...base, status: 'running', host: localHost, pid: 12345, heartbeat_at: now / 1000 - 5 };
  const dead = () => false;
  const alive = () => true;
  assert.equal(displayStatus(running, now, dead), 'running');
  const stale = { ...running, heartbeat_at: now / 1000 - 120 };
  assert.equal(displayStatus(stale, now, dead), 'lost');
  assert.equal(displayStatus(stale, now, alive), 'running', 'alive on this host: slow, not lost');
  assert.equal(displayStatus({ ...stale, host: 'cluster-node-7' }, now, alive), 'lost', 'another host: heartbeat only');
  assert.equal(displayStatus({ ...stale, status: 'completed' }, now, dead), 'completed');
});

test('runs that appear and disappear are reported', async () => {
  const runs = tempDir();
  const s = store(runs);
  const removed: string[][] = [];
  s.onDidRemoveRuns((dirs) => removed.push(dirs));
  await s.refresh();
  assert.equal(s.runs.length, 0);
  const dir = copyFixture('completed', runs, 'new-run');
  await s.refresh();
  assert.equal(s.runs.length, 1);
  rmSync(dir, { recursive: true });
  await s.refresh();
  assert.deepEqual(removed, [[dir]]);
  assert.equal(s.runs.length, 0);
  s.dispose();
});

test('an invalid run.json keeps the last good state and says why', async () => {
  const runs = tempDir();
  const dir = copyFixture('completed', runs);
  const s = store(runs);
  await s.refresh();
  writeFileSync(join(dir, 'run.json'), '{"format_version": 1');
  await s.refresh();
  assert.equal(s.get(dir)!.status, 'completed');
  assert.match(s.get(dir)!.readProblem ?? '', /not valid JSON/);
  s.dispose();
});

test('file watching picks up a new run without waiting for the poll', async () => {
  const runs = tempDir();
  const s = new RunStore({ runsDirectories: () => [runs], pollIntervalMs: 60_000 });
  await s.start();
  const seen = new Promise<void>((resolve) => s.onDidChangeRuns(() => resolve()));
  copyFixture('completed', runs, 'watched');
  await Promise.race([seen, new Promise((_, reject) => setTimeout(() => reject(new Error('no change event within 5 s')), 5000))]);
  assert.equal(s.runs.length, 1);
  s.dispose();
});

test('run.json from a newer trainer: unknown status and fields are kept and noted, a bad field is named and defaulted', async () => {
  const runs = tempDir();
  const dir = copyFixture('completed', runs);
  const meta = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as Record<string, unknown>;
  delete meta.torch_version;
  writeFileSync(join(dir, 'run.json'), JSON.stringify({
    ...meta, status: 'paused', algorithm: 'bond-v2', format_version: 2, step: 'seven', gpu_hours: 1.5, scheduler: { kind: 'x' },
  }));
  const s = store(runs);
  await s.refresh();
  const state = s.get(dir);
  assert.ok(state, 'the run is listed, not dropped');
  assert.equal(state.status, 'paused');
  assert.equal(state.meta.algorithm, 'bond-v2');
  assert.equal(state.meta.step, 0);
  assert.equal(state.meta.total_steps, meta.total_steps, 'valid fields are kept as written');
  assert.equal((state.meta as unknown as Record<string, unknown>).gpu_hours, 1.5, 'unknown fields are kept');
  const notes = state.metaNotes.join('\n');
  assert.match(notes, /status "paused" is not one this version knows/);
  assert.match(notes, /format_version 2, this version reads 1/);
  assert.match(notes, /"step" must be integer \(is "seven"\); shown as 0/);
  assert.match(notes, /"torch_version" is missing/);
  assert.match(notes, /fields this version does not know \(kept\): gpu_hours, scheduler/);
  assert.doesNotMatch(notes, /algorithm/, 'a new algorithm is not a problem: its run.json says what to chart');
  s.dispose();
});

test('run.json this trainer wrote reads without notes; one without a status is listed as unreadable with the reason', async () => {
  const runs = tempDir();
  const dir = copyFixture('completed', runs);
  const other = copyFixture('failed', runs);
  const meta = JSON.parse(readFileSync(join(other, 'run.json'), 'utf8')) as Record<string, unknown>;
  delete meta.status;
  writeFileSync(join(other, 'run.json'), JSON.stringify(meta));
  const s = store(runs);
  await s.refresh();
  assert.deepEqual(s.get(dir)!.metaNotes, []);
  assert.equal(s.get(other)?.status, 'unreadable', 'on a row of its own, not silently left out');
  assert.match(s.get(other)?.readProblem ?? '', /"status" is missing, not a text/);
  assert.match(String(await readRunMeta(other)), /"status" is missing, not a text/);
  s.dispose();
});

test('Delete Run removes only a run folder directly inside a runs directory, holding a run.json file', () => {
  const root = tempDir('bond-delete-');
  const runs = join(root, 'runs');
  const run = join(runs, 'a');
  mkdirSync(run, { recursive: true });
  writeFileSync(join(run, 'run.json'), '{}');
  assert.equal(deletableRunProblem(run, [runs]), null);
  assert.match(deletableRunProblem(runs, [runs]) ?? '', /not a run folder inside the runs directory/, 'the runs directory itself');
  const elsewhere = join(root, 'home');
  mkdirSync(elsewhere);
  writeFileSync(join(elsewhere, 'run.json'), '{}');
  assert.match(deletableRunProblem(elsewhere, [runs]) ?? '', /not a run folder/, 'outside the runs directory');
  symlinkSync(elsewhere, join(runs, 'link'));
  assert.match(deletableRunProblem(join(runs, 'link'), [runs]) ?? '', /not a run folder/, 'a link that leads out');
  mkdirSync(join(runs, 'b'));
  mkdirSync(join(runs, 'b', 'run.json'));
  assert.match(deletableRunProblem(join(runs, 'b'), [runs]) ?? '', /no run.json file/);
  assert.match(deletableRunProblem(join(runs, 'c'), [runs]) ?? '', /no longer exists/);
});

test('one bad folder never empties the runs view: its problem is on its own row, the others list, polling goes on', async () => {
  const runs = tempDir();
  copyFixture('completed', runs, 'good-a');
  copyFixture('failed', runs, 'good-b');
  // run.json nested 10,000 deep in a field the reader reports (JSON.stringify's RangeError)
  const deep = copyFixture('completed', runs, 'deep');
  const meta = JSON.parse(readFileSync(join(deep, 'run.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(deep, 'run.json'), JSON.stringify({ ...meta, step: 0 }).replace('"step":0', `"step":${'['.repeat(10_000)}${']'.repeat(10_000)}`));
  // metrics.jsonl that is a folder
  const folder = copyFixture('completed', runs, 'metrics-folder');
  rmSync(join(folder, 'metrics.jsonl'));
  mkdirSync(join(folder, 'metrics.jsonl'));
  // run.json that is a folder: never readable, listed on a row of its own
  mkdirSync(join(runs, 'run-json-folder', 'run.json'), { recursive: true });
  const s = store(runs, { pollIntervalMs: 100 });
  await s.start();
  const names = s.runs.map((r) => r.dir.split('/').pop()).sort();
  assert.deepEqual(names, ['deep', 'good-a', 'good-b', 'metrics-folder', 'run-json-folder']);
  assert.equal(s.get(join(runs, 'good-a'))!.status, 'completed');
  assert.equal(s.get(join(runs, 'deep'))!.status, 'completed', 'the deep field is noted and defaulted, the run read');
  assert.ok(s.get(join(runs, 'deep'))!.metaNotes.some((n) => n.includes('"step"')));
  assert.match(s.get(join(folder))!.readProblem ?? '', /metrics: .*not a regular file/);
  assert.equal(s.get(folder)!.status, 'completed');
  const unreadable = s.get(join(runs, 'run-json-folder'))!;
  assert.equal(unreadable.status, 'unreadable');
  assert.match(unreadable.readProblem ?? '', /run.json is not a regular file/);
  // polling goes on: a new run appears without a manual refresh
  copyFixture('completed', runs, 'later');
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.ok(s.get(join(runs, 'later')), 'the store kept polling');
  s.dispose();
});

test('a FIFO as run.json or metrics.jsonl is skipped, never opened: the refresh and other file access go on', async () => {
  const runs = tempDir();
  copyFixture('completed', runs, 'good');
  const fifos: string[] = [];
  for (let i = 0; i < 4; i++) {
    const metricsFifo = copyFixture('completed', runs, `fifo-metrics-${i}`);
    rmSync(join(metricsFifo, 'metrics.jsonl'));
    execFileSync('mkfifo', [join(metricsFifo, 'metrics.jsonl')]);
    const runFifo = join(runs, `fifo-run-${i}`);
    mkdirSync(runFifo);
    execFileSync('mkfifo', [join(runFifo, 'run.json')]);
    fifos.push(metricsFifo, runFifo);
  }
  const s = store(runs);
  const done = s.refresh().then(() => 'refreshed');
  const verdict = await Promise.race([done, new Promise((resolve) => setTimeout(() => resolve('hung'), 10_000))]);
  assert.equal(verdict, 'refreshed', 'a FIFO hung the refresh');
  assert.equal(s.get(join(runs, 'good'))!.status, 'completed');
  assert.match(s.get(join(runs, 'fifo-metrics-0'))!.readProblem ?? '', /not a regular file/);
  assert.equal(s.get(join(runs, 'fifo-run-0'))!.status, 'unreadable');
  // the thread pool is free: an ordinary read still completes
  assert.ok(readFileSync(join(runs, 'good', 'run.json'), 'utf8').length > 0);
  await (await import('node:fs/promises')).readFile(join(runs, 'good', 'metrics.jsonl'), 'utf8');
  s.dispose();
});

test('a held run keeps its whole metric history in the store, the one reader of its metrics.jsonl', async () => {
  const runs = tempDir();
  const dir = copyFixture('completed', runs);
  const s = store(runs);
  await s.refresh(); // the runs view has read the file once already
  const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.trim());
  assert.equal(s.metricsHistory(dir), undefined, 'nothing is kept for a run nobody holds');
  const events: MetricsEvent[] = [];
  s.onDidAppendMetrics((e) => events.push(e));
  const held = s.retainMetrics(dir);
  await s.refresh();
  assert.equal(s.metricsHistory(dir)?.length, lines.length, 'holding reads the history from the first line');
  assert.equal(events.at(-1)?.reset, true, 'listeners are told the lines are replayed');
  const second = s.retainMetrics(dir); // a second view of the same run: no second read
  await s.refresh();
  assert.equal(s.metricsHistory(dir)?.length, lines.length);
  const record = { ...(JSON.parse(lines[0]!) as MetricRecord), step: 777 };
  appendFileSync(join(dir, 'metrics.jsonl'), JSON.stringify(record) + '\n');
  await s.refresh();
  const history = s.metricsHistory(dir);
  assert.equal(history?.record(history.length - 1).step, 777);
  assert.deepEqual(history?.record(history.length - 1), readMetricLine(JSON.parse(JSON.stringify(record))), 'the line as the reader gives it, from the columns');
  assert.deepEqual(events.at(-1)?.records.map((r) => r.step), [777]);
  held.dispose();
  held.dispose(); // releasing twice releases once
  assert.ok(s.metricsHistory(dir), 'still held by the second view');
  second.dispose();
  assert.equal(s.metricsHistory(dir), undefined, 'released: nothing kept');
  s.dispose();
});

test('a held run outside the runs directories is followed while held', async () => {
  const runs = tempDir();
  const elsewhere = tempDir();
  const dir = copyFixture('completed', elsewhere);
  const s = store(runs);
  const held = s.retainMetrics(dir);
  await s.refresh();
  assert.ok((s.metricsHistory(dir)?.length ?? 0) > 1);
  assert.equal(s.get(dir)?.status, 'completed');
  assert.deepEqual(s.runs, [], 'followed for its view, not listed among the runs directory\'s runs');
  held.dispose();
  await s.refresh();
  assert.equal(s.get(dir), undefined, 'no longer followed once released');
  s.dispose();
});

test('a view waits for its run\'s history, not for the store\'s polling loop, and no longer than it said', async () => {
  const runs = tempDir();
  const dir = copyFixture('completed', runs);
  const s = store(runs);
  const held = s.retainMetrics(dir);
  let done = false;
  const waited = s.whenHistory(dir, 60_000).then(() => { done = true; });
  assert.equal(done, false);
  await s.refresh();
  await waited;
  assert.ok(done && (s.metricsHistory(dir)?.length ?? 0) > 1, 'woken when the history is read');
  const missing = join(runs, 'not-yet');
  const none = s.retainMetrics(missing);
  const started = Date.now();
  await s.whenHistory(missing, 50); // no run.json yet: the wait ends at its limit
  assert.ok(Date.now() - started < 5_000);
  assert.equal(s.metricsHistory(missing), undefined);
  held.dispose();
  none.dispose();
  s.dispose();
});

test('the runs view reads a large metrics.jsonl\'s last lines only; a view that holds the run gets its whole history', async () => {
  const runs = tempDir();
  const dir = copyFixture('completed', runs);
  const fixture = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as MetricRecord);
  const train = fixture.find((r) => r.kind === 'train')!;
  const evaluation = fixture.find((r) => r.kind === 'eval')!;
  // 40,000 train lines (several MB), an eval line every 1,000 steps.
  const lines: string[] = [];
  for (let step = 1; step <= 40_000; step++) {
    lines.push(JSON.stringify({ ...train, step }));
    if (step % 1000 === 0) lines.push(JSON.stringify({ ...evaluation, step }));
  }
  writeFileSync(join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
  const s = store(runs);
  const events: MetricsEvent[] = [];
  s.onDidAppendMetrics((e) => events.push(e));
  await s.refresh();
  const run = s.get(dir)!;
  assert.equal(run.latest?.step, 40_000);
  assert.equal(run.latestEval?.step, 40_000);
  const read = events.reduce((n, e) => n + e.records.length, 0);
  assert.ok(read > 0 && read < 5_000, `the file's end only: ${read} of ${lines.length} lines`);
  const held = s.retainMetrics(dir);
  await s.refresh();
  assert.equal(s.metricsHistory(dir)?.length, lines.length, 'held: every line, from the first');
  held.dispose();
  s.dispose();
});

test('an ended run is checked by its folder\'s stat: a replaced run.json or bond-studio.json shows at once, one rewritten in place within a few passes, among many runs', async () => {
  const runs = tempDir();
  const count = 120;
  for (let i = 0; i < count; i++) copyFixture('completed', runs, `run-${String(i).padStart(3, '0')}`);
  const s = store(runs);
  await s.refresh();
  assert.equal(s.runs.length, count);
  const replaced = join(runs, 'run-007');
  const meta = JSON.parse(readFileSync(join(replaced, 'run.json'), 'utf8')) as RunMeta;
  // How the trainer and the editor replace a file: write a temporary one, rename it over.
  writeFileSync(join(replaced, 'run.json.tmp'), JSON.stringify({ ...meta, status: 'stopped' }));
  renameSync(join(replaced, 'run.json.tmp'), join(replaced, 'run.json'));
  const noted = join(runs, 'run-050');
  writeFileSync(join(noted, 'bond-studio.json.tmp'), JSON.stringify({ label: 'renamed here' }));
  renameSync(join(noted, 'bond-studio.json.tmp'), join(noted, 'bond-studio.json'));
  rmSync(join(runs, 'run-099'), { recursive: true });
  await s.refresh();
  assert.equal(s.get(replaced)?.status, 'stopped', 'a replaced run.json: at the next pass');
  assert.equal(s.get(noted)?.annotations?.label, 'renamed here', 'a replaced bond-studio.json: at the next pass');
  assert.equal(s.get(join(runs, 'run-099')), undefined, 'a removed folder: at the next pass');
  // Rewritten in place (same file, the folder unchanged): seen when its turn comes.
  const inPlace = join(runs, 'run-111');
  editMeta(inPlace, { status: 'failed' });
  let passes = 0;
  while (s.get(inPlace)?.status !== 'failed' && passes < 10) {
    await s.refresh();
    passes++;
  }
  assert.equal(s.get(inPlace)?.status, 'failed');
  assert.ok(passes <= Math.ceil(count / RECHECKED_PER_PASS), `seen after ${passes} passes`);
  s.dispose();
});

test('ended runs beyond what a pass stats are stat\'ed in turn: a replaced run.json is seen within a few passes, at once where the file watcher reports it', async () => {
  const runs = tempDir();
  const count = 90;
  for (let i = 0; i < count; i++) copyFixture('completed', runs, `run-${String(i).padStart(3, '0')}`);
  const replace = (dir: string, status: string) => {
    const meta = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunMeta;
    writeFileSync(join(dir, 'run.json.tmp'), JSON.stringify({ ...meta, status }));
    renameSync(join(dir, 'run.json.tmp'), join(dir, 'run.json'));
  };
  const polled = store(runs, { settledStatsPerPass: 30, recheckedPerPass: 5 });
  await polled.refresh();
  const target = join(runs, 'run-077');
  replace(target, 'stopped');
  let passes = 0;
  while (polled.get(target)?.status !== 'stopped' && passes < 10) {
    await polled.refresh();
    passes++;
  }
  assert.equal(polled.get(target)?.status, 'stopped');
  assert.ok(passes <= Math.ceil(count / 30), `seen after ${passes} passes`);
  polled.dispose();
  // With the file watcher on, the run's folder reports the change: read at the next pass, whatever its turn.
  const watched = store(runs, { settledStatsPerPass: 1, recheckedPerPass: 0, watchFiles: true, pollIntervalMs: 60_000 });
  await watched.refresh();
  await watched.refresh(); // every run read, settled
  const seen = new Promise<void>((resolve) => watched.onDidChangeRuns((changed) => {
    if (changed.some((r) => r.dir === join(runs, 'run-033') && r.status === 'failed')) resolve();
  }));
  replace(join(runs, 'run-033'), 'failed');
  await Promise.race([seen, new Promise((_, reject) => setTimeout(() => reject(new Error('the watcher\'s report was not read within 5 s')), 5000))]);
  watched.dispose();
});
