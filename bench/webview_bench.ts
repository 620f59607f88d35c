/**
 * Webview benchmarks; prints tables (not a test). Runs the dashboard bundle in headless Chromium.
 *   npm run bench:webview
 * 1. First paint: a snapshot of N metric lines (20 metrics each, so 50,000 lines ≈ 1,000,000 points)
 *    posted in the page, until every chart has drawn; against 1,000 lines in the same run.
 * 2. Live latency: a metrics line appended to metrics.jsonl on disk → RunStore notices (fs.watch)
 *    → the host's record stream reads it → posted to the webview → its point is on the chart.
 *    The first leg alone (disk → RunStore event) is the baseline.
 * 3. The experiments table: a snapshot of N runs until its rows are drawn, a re-sort, and a scroll to
 *    the bottom (the rows in view drawn); against 100 runs in the same run.
 */
import { appendFileSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MetricRecord } from '../contracts/run-directory';
import { RunStore } from '../src/core/runStore';
import { readMetricLine } from '../src/core/readers';
import { toDashboardRun } from '../src/core/webviewModels';
import { RecordStream } from '../src/webviews/runSource';
import { tempDir } from '../test/helpers';
import { experimentRows, fixtureRun, startHarness, syntheticMetrics } from '../test/webview/harness';

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

async function experimentsTable(): Promise<void> {
  const harness = await startHarness();
  console.log('\n## Experiments table (headless Chromium): snapshot → rows drawn, re-sort, scroll to the bottom\n');
  console.log('| runs | rows in the DOM | snapshot ms | sort ms | scroll ms | snapshot vs 100 runs |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  let baseline = 0;
  for (const count of [100, 1_000, 10_000]) {
    const view = await harness.open('experiments', { width: 1300, height: 800 });
    const rows = experimentRows(count);
    const timings = await view.page.evaluate(async ({ rows: all }) => {
      const frames = (): Promise<void> => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve())));
      const updates = (): number => Number(document.body.dataset.updates ?? '0');
      const until = async (before: number): Promise<void> => {
        while (updates() === before) await frames();
      };
      let before = updates();
      let start = performance.now();
      window.postMessage({ type: 'snapshot', seq: 1, rows: all, fields: ['algorithm', 'anchor.ema_eta', 'train.lr'] }, '*');
      await until(before);
      const snapshot = performance.now() - start;
      before = updates();
      start = performance.now();
      document.querySelector<HTMLButtonElement>('.exp-head [data-column="reward"] button')!.click();
      await until(before);
      const sort = performance.now() - start;
      const viewport = document.querySelector<HTMLElement>('.exp-viewport')!;
      before = updates();
      start = performance.now();
      viewport.scrollTop = viewport.scrollHeight;
      await until(before);
      const scroll = performance.now() - start;
      return { snapshot, sort, scroll, dom: document.querySelectorAll('.exp-body .exp-row').length };
    }, { rows });
    if (count === 100) baseline = timings.snapshot;
    console.log(`| ${count.toLocaleString()} | ${timings.dom} | ${timings.snapshot.toFixed(0)} | ${timings.sort.toFixed(0)} | ${timings.scroll.toFixed(0)} | ${(timings.snapshot / baseline).toFixed(1)}x |`);
    await view.page.close();
  }
  await harness.close();
}

async function main(): Promise<void> {
  console.log(`# webview bench — Node ${process.version}, ${new Date().toISOString().slice(0, 10)}`);
  if (process.argv.includes('--experiments')) return experimentsTable();
  await firstPaint();
  await liveLatency();
  await experimentsTable();
}

main().then(() => process.exit(0), (error: unknown) => {
  console.error(error);
  process.exit(1);
});
