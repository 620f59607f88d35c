/**
 * Webview benchmarks; prints tables (not a test). Runs the dashboard bundle in headless Chromium.
 *   npm run bench:webview
 * 1. First paint: a snapshot of N metric lines (20 metrics each, so 50,000 lines ≈ 1,000,000 points)
 *    posted in the page, until every chart has drawn; against 1,000 lines in the same run.
 * 2. Live latency: a metrics line appended to metrics.jsonl on disk → RunStore notices (fs.watch)
 *    → the host's record stream reads it → posted to the webview → its point is on the chart.
 *    The first leg alone (disk → RunStore event) is the baseline.
 */
import { appendFileSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MetricRecord } from '../contracts/run-directory';
import { RunStore } from '../src/core/runStore';
import { readMetricLine } from '../src/core/readers';
import { toDashboardRun } from '../src/core/webviewModels';
import { RecordStream } from '../src/webviews/runSource';
import { tempDir } from '../test/helpers';
import { fixtureRun, startHarness, syntheticMetrics } from '../test/webview/harness';

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function firstPaint(): Promise<void> {
  const harness = await startHarness();
  const completed = fixtureRun('completed');
  const header = toDashboardRun('/runs/a', completed.meta, 'completed', Date.now());
  const template = completed.metrics.find((m) => m.kind === 'train') as MetricRecord;
  console.log('\n## Dashboard first paint (headless Chromium, snapshot built in the page)\n');
  console.log('| metric lines | points | first paint ms | vs 1,000 lines |');
  console.log('|---:|---:|---:|---:|');
  let baseline = 0;
  for (const lines of [1_000, 10_000, 50_000]) {
    const times: number[] = [];
    for (let repeat = 0; repeat < 3; repeat++) {
      const view = await harness.open('dashboard');
      const ms = await view.page.evaluate(async ({ lines: count, template: t, header: h }) => {
        const records = [];
        for (let step = 1; step <= count; step++) {
          const record: Record<string, unknown> = { ...t, step, time: 1_800_000_000 + step };
          for (const [key, value] of Object.entries(t)) if (typeof value === 'number' && key !== 'step' && key !== 'time') record[key] = value + Math.sin(step / 100);
          records.push(record);
        }
        const start = performance.now();
        window.postMessage({ type: 'snapshot', seq: 1, runs: [h], metrics: [{ dir: h.dir, records }] }, '*');
        // the snapshot is applied synchronously on the message; the frame after it has painted
        await new Promise((resolve) => setTimeout(resolve, 0));
        await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
        if (document.querySelector('[data-chart="loss"]')?.getAttribute('data-points') !== String(count)) throw new Error('not drawn');
        return performance.now() - start;
      }, { lines, template, header });
      times.push(ms);
      await view.page.close();
    }
    const ms = median(times);
    if (lines === 1_000) baseline = ms;
    const points = lines * Object.values(template).filter((v) => typeof v === 'number').length;
    console.log(`| ${lines.toLocaleString()} | ${points.toLocaleString()} | ${ms.toFixed(0)} | ${(ms / baseline).toFixed(1)}x |`);
  }
  await harness.close();
}

async function liveLatency(): Promise<void> {
  const runs = tempDir('bond-bench-runs-');
  const dir = join(runs, 'live');
  mkdirSync(dir);
  const fixture = join(__dirname, '..', '..', 'contracts', 'fixtures', 'runs', 'completed');
  copyFileSync(join(fixture, 'run.json'), join(dir, 'run.json'));
  const history = syntheticMetrics(1000);
  writeFileSync(join(dir, 'metrics.jsonl'), history.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const store = new RunStore({ runsDirectories: () => [runs], pollIntervalMs: 1000 });
  await store.start();
  const stream = RecordStream.of(dir, 'metrics.jsonl', readMetricLine);
  const harness = await startHarness();
  const view = await harness.open('dashboard');
  const meta = fixtureRun('completed').meta;
  let seq = 1;
  await view.send({ type: 'snapshot', seq, runs: [toDashboardRun(dir, meta, 'running', Date.now())], metrics: [{ dir, records: (await stream.read()).records }] });
  await view.page.waitForSelector('[data-chart="loss"] canvas');
  store.onDidAppendMetrics(async (event) => {
    if (event.dir !== dir) return;
    const { records } = await stream.read();
    if (records.length) await view.send({ type: 'append', seq: ++seq, dir, records });
  });
  const endToEnd: number[] = [];
  const toStore: number[] = [];
  for (let i = 1; i <= 20; i++) {
    const step = 1000 + i;
    const record = { ...(history.at(-1) as MetricRecord), step, time: (history.at(-1) as MetricRecord).time + i };
    const drawn = view.page.evaluate((target) => new Promise<number>((resolve) => {
      const chart = document.querySelector('[data-chart="loss"]') as HTMLElement;
      const observer = new MutationObserver(() => {
        if (chart.dataset.lastX === String(target)) {
          observer.disconnect();
          resolve(performance.timeOrigin + performance.now());
        }
      });
      observer.observe(chart, { attributes: true });
    }), step);
    await new Promise((resolve) => setTimeout(resolve, 30)); // the observer is in place
    const noticed = new Promise<number>((resolve) => {
      const subscription = store.onDidAppendMetrics(() => {
        subscription.dispose();
        resolve(performance.timeOrigin + performance.now());
      });
    });
    const start = performance.timeOrigin + performance.now();
    appendFileSync(join(dir, 'metrics.jsonl'), `${JSON.stringify(record)}\n`);
    toStore.push((await noticed) - start);
    endToEnd.push((await drawn) - start);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  console.log('\n## Live latency: a line appended on disk → its point on the chart (20 appends, 1,000-line history)\n');
  console.log('| leg | median ms | max ms |');
  console.log('|---|---:|---:|');
  console.log(`| disk → RunStore event (fs.watch; baseline) | ${median(toStore).toFixed(0)} | ${Math.max(...toStore).toFixed(0)} |`);
  console.log(`| disk → point drawn on the chart | ${median(endToEnd).toFixed(0)} | ${Math.max(...endToEnd).toFixed(0)} |`);
  store.dispose();
  await harness.close();
}

async function main(): Promise<void> {
  console.log(`# webview bench — Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
  await firstPaint();
  await liveLatency();
}

main().then(() => process.exit(0), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
