/**
 * Extension benchmarks; prints tables (not a test). Figures sit next to a baseline measured in the
 * same run.
 *   npm run bench:extension
 * 1. Tailing a 100 MB metrics.jsonl (each line checked by the reader) against reading and parsing the whole file.
 * 2. One appended line: the byte-offset tail against rereading the file.
 * 3. Activation: loading dist/extension.js and running activate() against a no-op `vscode` stub
 *    (our code's cost only; the editor's own activation work is not included).
 */
import { appendFileSync, openSync, writeSync, closeSync, readFileSync, statSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import Module from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { JsonlTail } from '../src/core/jsonlTail';
import { LineProblem, readMetricLine } from '../src/core/readers';

const ROOT = join(__dirname, '..', '..');

function metricLine(step: number): string {
  const record: Record<string, number | string> = { kind: 'train', step, time: 1_795_000_000 + step };
  for (const name of ['loss/total', 'loss/forward', 'loss/backward', 'loss/regulariser', 'reward/policy', 'reward/anchor',
    'reward/bon', 'quantile/log_policy', 'kl/policy_ref', 'kl/policy_anchor', 'entropy', 'grad_norm', 'lr', 'length',
    'return/mean', 'perf/samples_per_s', 'perf/tokens_per_s', 'time/sample_s', 'time/score_s', 'time/update_s']) {
    record[name] = Math.sin(step * 0.001 + name.length) * 10 + Math.random();
  }
  return JSON.stringify(record) + '\n';
}

function writeMetrics(path: string, megabytes: number): number {
  const fd = openSync(path, 'w');
  let bytes = 0;
  let step = 0;
  while (bytes < megabytes * 1024 * 1024) {
    const chunk = Array.from({ length: 1000 }, () => metricLine(++step)).join('');
    writeSync(fd, chunk);
    bytes += Buffer.byteLength(chunk);
  }
  closeSync(fd);
  return step;
}

function wholeFile(path: string, validate: boolean): number {
  let count = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    const value: unknown = JSON.parse(line);
    if (!validate || !(readMetricLine(value) instanceof LineProblem)) count++;
  }
  return count;
}

async function time<T>(fn: () => Promise<T> | T): Promise<[T, number]> {
  const start = performance.now();
  const value = await fn();
  return [value, performance.now() - start];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bond-bench-'));
  const path = join(dir, 'metrics.jsonl');
  const lines = writeMetrics(path, 100);
  const mb = statSync(path).size / 1024 / 1024;
  console.log(`# extension bench — Node ${process.version}, ${mb.toFixed(0)} MB metrics.jsonl, ${lines.toLocaleString()} lines\n`);

  console.log('## Reading a whole metrics file\n');
  console.log('| reader | ms | MB/s | lines/s |');
  console.log('|---|---:|---:|---:|');
  const rows: [string, () => Promise<number> | number][] = [
    ['JsonlTail (8 MB slices, reader-checked)', async () => (await new JsonlTail(path, readMetricLine).readAll()).records.length],
    ['baseline: readFile + split + JSON.parse', () => wholeFile(path, false)],
    ['baseline + the reader\'s check of each line', () => wholeFile(path, true)],
  ];
  for (const [name, fn] of rows) {
    const [count, ms] = await time(fn);
    if (count !== lines) throw new Error(`${name} read ${count} of ${lines} lines`);
    console.log(`| ${name} | ${ms.toFixed(0)} | ${(mb / (ms / 1000)).toFixed(0)} | ${Math.round(count / (ms / 1000)).toLocaleString()} |`);
  }

  console.log('\n## One appended line, at the end of the 100 MB file (median of 20)\n');
  const tail = new JsonlTail(path, readMetricLine);
  await tail.readAll();
  const tailTimes: number[] = [];
  const rereadTimes: number[] = [];
  for (let i = 0; i < 20; i++) {
    appendFileSync(path, metricLine(lines + i + 1));
    tailTimes.push((await time(() => tail.read()))[1]);
    if (i < 5) rereadTimes.push((await time(() => wholeFile(path, true)))[1]);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log('| reader | ms per update |');
  console.log('|---|---:|');
  console.log(`| JsonlTail (byte offset) | ${median(tailTimes).toFixed(3)} |`);
  console.log(`| baseline: reread and parse the file | ${median(rereadTimes).toFixed(0)} |`);
  console.log(`\nspeed-up: ${(median(rereadTimes) / median(tailTimes)).toFixed(0)}x`);

  console.log('\n## Activation (our code, no-op vscode stub; median of 5 fresh loads)\n');
  const stub: unknown = new Proxy(function stubbed() { /* no-op */ }, {
    get: (_target, key) => (key === 'then' ? undefined : stub),
    set: () => true,
    apply: () => stub,
    construct: () => stub as object,
  });
  // esbuild's interop copies the module's own properties, so the module itself is a plain object.
  const vscodeStub = Object.fromEntries(['window', 'workspace', 'commands', 'languages', 'extensions', 'EventEmitter',
    'TreeItem', 'ThemeIcon', 'ThemeColor', 'MarkdownString', 'Uri', 'Range', 'CodeLens', 'Diagnostic', 'DiagnosticSeverity',
    'ProgressLocation', 'StatusBarAlignment', 'TreeItemCollapsibleState', 'ConfigurationTarget'].map((name) => [name, stub]));
  const moduleApi = Module as unknown as { _load: (request: string, ...rest: unknown[]) => unknown };
  const originalLoad = moduleApi._load;
  moduleApi._load = (request: string, ...rest: unknown[]) => (request === 'vscode' ? vscodeStub : originalLoad(request, ...rest));
  const bundle = join(ROOT, 'dist', 'extension.js');
  const loads: number[] = [];
  const activations: number[] = [];
  for (let i = 0; i < 5; i++) {
    delete require.cache[require.resolve(bundle)];
    const [extension, loadMs] = await time(() => require(bundle) as { activate(context: unknown): { store: { dispose(): void } } });
    const context = { subscriptions: [] as { dispose(): void }[], extensionPath: ROOT, globalStorageUri: { fsPath: dir }, extensionUri: stub };
    const [services, activateMs] = await time(() => extension.activate(context));
    services.store.dispose();
    loads.push(loadMs);
    activations.push(activateMs);
  }
  moduleApi._load = originalLoad;
  console.log('| phase | ms |');
  console.log('|---|---:|');
  console.log(`| load dist/extension.js (${(statSync(bundle).size / 1024).toFixed(0)} KB) | ${median(loads).toFixed(1)} |`);
  console.log(`| activate() | ${median(activations).toFixed(1)} |`);
  process.exit(0);
}

void main();
