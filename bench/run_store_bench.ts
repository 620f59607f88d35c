/**
 * The run store against large runs and many runs; prints tables (not a test).
 *   npm run bench:runstore                 # metrics files of 10 MB, 100 MB and 1 GB; 10,000 run folders
 *   npm run bench:runstore -- --quick      # 10 and 100 MB; 2,000 folders
 * 1. The runs view's first read of one run (its latest train and eval lines) as its metrics.jsonl
 *    grows, against reading the whole file (what the store did before: every line kept), measured
 *    in the same run at 100 MB. Targets (issue 21): the runs view's cost independent of the size.
 * 2. N run folders (ended runs, as an experiments folder holds them): the first listing, then polls
 *    with nothing new (target: under 300 ms at 10,000), then a poll after one run.json is replaced.
 * Memory: the heap and resident set after the pass, less before it (after a forced GC when Node
 * is started with --expose-gc).
 */
import { cpSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { MetricRecord, RunMeta } from '../contracts/run-directory';
import { JsonlTail } from '../src/core/jsonlTail';
import { readMetricLine } from '../src/core/readers';
import { RunStore } from '../src/core/runStore';

const ROOT = join(__dirname, '..', '..');
const FIXTURE = join(ROOT, 'contracts', 'fixtures', 'runs', 'completed');
const quick = process.argv.includes('--quick');

function fixtureRecords(): { train: MetricRecord; evaluation: MetricRecord } {
  const records = readFileSync(join(FIXTURE, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.trim())
    .map((l) => JSON.parse(l) as MetricRecord);
  return { train: records.find((r) => r.kind === 'train')!, evaluation: records.find((r) => r.kind === 'eval')! };
}

/** metrics.jsonl of about `megabytes`: the fixture's train line at every step, its eval line every 50. */
function writeMetrics(path: string, megabytes: number): number {
  const { train, evaluation } = fixtureRecords();
  const fd = openSync(path, 'w');
  let bytes = 0;
  let lines = 0;
  let step = 0;
  while (bytes < megabytes * 2 ** 20) {
    const chunk: string[] = [];
    for (let i = 0; i < 2000; i++) {
      step++;
      chunk.push(JSON.stringify({ ...train, step, time: train.time + step }));
      if (step % 50 === 0) chunk.push(JSON.stringify({ ...evaluation, step, time: evaluation.time + step }));
    }
    const text = chunk.join('\n') + '\n';
    writeSync(fd, text);
    bytes += Buffer.byteLength(text);
    lines += chunk.length;
  }
  closeSync(fd);
  return lines;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

async function measure<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; heapMiB: number; rssMiB: number }> {
  gc();
  const before = process.memoryUsage();
  const start = performance.now();
  const value = await fn();
  const ms = performance.now() - start;
  const after = process.memoryUsage();
  return { value, ms, heapMiB: (after.heapUsed - before.heapUsed) / 2 ** 20, rssMiB: (after.rss - before.rss) / 2 ** 20 };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function largeRuns(): Promise<void> {
  const sizes = quick ? [10, 100] : [10, 100, 1024];
  console.log('## The runs view\'s first read of one run, by the size of its metrics.jsonl\n');
  console.log('| metrics.jsonl | lines | runs view: ms | heap MiB | RSS MiB | latest step found |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  let baselinePath = '';
  let baselineMiB = 0;
  const firstReads: number[] = [];
  const dirs: string[] = [];
  for (const size of sizes) {
    const runs = mkdtempSync(join(tmpdir(), 'bond-store-bench-'));
    const dir = join(runs, 'run');
    cpSync(FIXTURE, dir, { recursive: true });
    const path = join(dir, 'metrics.jsonl');
    const lines = writeMetrics(path, size);
    const mib = statSync(path).size / 2 ** 20;
    const store = new RunStore({ runsDirectories: () => [runs], watchFiles: false });
    const { ms, heapMiB, rssMiB } = await measure(() => store.refresh());
    const latest = store.get(dir)?.latest?.step;
    store.dispose();
    firstReads.push(ms);
    console.log(`| ${mib.toFixed(0)} MiB | ${lines.toLocaleString()} | ${ms.toFixed(1)} | ${heapMiB.toFixed(1)} | ${rssMiB.toFixed(1)} | ${latest?.toLocaleString()} |`);
    if (size === 100) {
      baselinePath = path;
      baselineMiB = mib;
    }
    dirs.push(runs);
  }
  const whole = await measure(async () => (await new JsonlTail(baselinePath, readMetricLine).readAll()).records.length);
  console.log(`\nBaseline, the same run: the whole ${baselineMiB.toFixed(0)} MiB file read and kept (what the store did before): `
    + `${whole.ms.toFixed(0)} ms, heap ${whole.heapMiB.toFixed(0)} MiB, ${whole.value.toLocaleString()} lines; `
    + `the runs view's read of it is ${(whole.ms / firstReads[1]!).toFixed(0)}× faster. `
    + `Largest ÷ smallest file's runs-view time: ${(firstReads.at(-1)! / firstReads[0]!).toFixed(2)}× for ${sizes.at(-1)! / sizes[0]!}× the bytes.\n`);
  for (const runs of dirs) rmSync(runs, { recursive: true, force: true });
}

async function manyRuns(): Promise<void> {
  const count = quick ? 2000 : 10_000;
  const runs = mkdtempSync(join(tmpdir(), 'bond-store-bench-many-'));
  const meta = JSON.parse(readFileSync(join(FIXTURE, 'run.json'), 'utf8')) as RunMeta;
  const metrics = readFileSync(join(FIXTURE, 'metrics.jsonl'));
  for (let i = 0; i < count; i++) {
    const dir = join(runs, `run-${String(i).padStart(5, '0')}`);
    cpSync(FIXTURE, dir, { recursive: true, filter: (source) => !source.includes('checkpoints') && !source.includes('samples') });
    writeFileSync(join(dir, 'run.json'), JSON.stringify({ ...meta, name: `run-${i}`, created_at: meta.created_at + i }));
    writeFileSync(join(dir, 'metrics.jsonl'), metrics);
  }
  const store = new RunStore({ runsDirectories: () => [runs], watchFiles: false });
  const first = await measure(() => store.refresh());
  if (store.runs.length !== count) throw new Error(`listed ${store.runs.length} of ${count} runs`);
  const polls: number[] = [];
  for (let i = 0; i < 7; i++) polls.push((await measure(() => store.refresh())).ms);
  // One run resumed elsewhere: its run.json replaced (write, rename), as the trainer does.
  const target = join(runs, `run-${String(Math.floor(count * 0.4242)).padStart(5, '0')}`);
  writeFileSync(join(target, 'run.json.tmp'), JSON.stringify({ ...meta, name: 'renamed', status: 'stopped' }));
  renameSync(join(target, 'run.json.tmp'), join(target, 'run.json'));
  const after = await measure(() => store.refresh());
  if (store.get(target)?.status !== 'stopped') throw new Error('the replaced run.json was not seen');
  store.dispose();
  console.log(`## ${count.toLocaleString()} run folders (ended runs)\n`);
  console.log('| pass | ms | heap MiB |');
  console.log('|---|---:|---:|');
  console.log(`| first listing | ${first.ms.toFixed(0)} | ${first.heapMiB.toFixed(1)} |`);
  console.log(`| poll, nothing new (median of 7; min ${Math.min(...polls).toFixed(0)}, max ${Math.max(...polls).toFixed(0)}) | ${median(polls).toFixed(0)} | |`);
  console.log(`| poll, one run.json replaced (seen) | ${after.ms.toFixed(0)} | |`);
  console.log(`\nA poll with nothing new is ${(first.ms / median(polls)).toFixed(0)}× cheaper than the first listing (target: under 300 ms at 10,000).`);
  rmSync(runs, { recursive: true, force: true });
}

async function main(): Promise<void> {
  console.log(`# run store bench — Node ${process.version}${quick ? ' (quick)' : ''}\n`);
  await largeRuns();
  await manyRuns();
  process.exit(0);
}

void main();
