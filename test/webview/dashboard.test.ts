/** The dashboard bundle in headless Chromium, fed host messages built from the shared fixtures. */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { HostToDashboard } from '../../contracts/webviews/dashboard';
import { MetricHistory, SNAPSHOT_ALL_LINES_UP_TO, SNAPSHOT_BUCKETS } from '../../src/core/metricHistory';
import { toDashboardRun } from '../../src/core/webviewModels';
import { waitFor } from '../helpers';
import { ARTIFACTS, cspViolations, fixtureRun, startHarness, syntheticMetrics, type Harness, type WebviewPage } from './harness';

const completed = fixtureRun('completed');
const NOW = completed.meta.updated_at * 1000;
const header = (dir: string, name = completed.meta.name) => ({ ...toDashboardRun(dir, { ...completed.meta, name }, completed.meta.status, NOW) });

/** Count canvas pixels that differ from the top-left (background) pixel. */
async function inkedPixels(page: Page, chartId: string): Promise<number> {
  return page.evaluate((id) => {
    const canvas = document.querySelector<HTMLCanvasElement>(`[data-chart="${id}"] canvas`);
    if (!canvas) return -1;
    const ctx = canvas.getContext('2d');
    if (!ctx) return -1;
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i + 3] !== 0) count++;
    return count;
  }, chartId);
}

/** A hash of the chart's canvas pixels: changes when anything drawn changes. */
async function canvasSignature(page: Page, chartId: string): Promise<string> {
  return page.evaluate((id) => {
    const canvas = document.querySelector<HTMLCanvasElement>(`[data-chart="${id}"] canvas`);
    return canvas ? canvas.toDataURL() : '';
  }, chartId);
}

describe('dashboard webview', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness();
    mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(async () => harness?.close());

  async function openWith(snapshot: HostToDashboard, theme: 'dark' | 'light' = 'dark', state?: unknown): Promise<WebviewPage> {
    const view = await harness.open('dashboard', { theme, state });
    await view.send(snapshot);
    await view.page.waitForSelector('[data-chart="loss"] canvas');
    return view;
  }

  it('a view whose ready went unanswered says it again, and draws the snapshot that answers', async () => {
    const view = await harness.open('dashboard');
    const readies = async () => (await view.posted()).filter((m) => m.type === 'ready').length;
    assert.equal(await readies(), 1);
    await waitFor(async () => ((await readies()) >= 2 ? true : undefined), 'a second ready with no snapshot', 15_000);
    await view.send({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records: completed.metrics }] });
    await view.page.waitForSelector('[data-chart="loss"] canvas');
    await view.page.close();
  });

  it('draws every metric family of the fixture run, with labelled axes, and no CSP violation', async () => {
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records: completed.metrics }] });
    for (const id of ['loss', 'reward', 'quantile', 'kl_ref', 'kl_anchor', 'entropy', 'grad_norm', 'lr', 'throughput', 'tokens', 'step_time',
      'eval_reward', 'eval_effective_n', 'eval_win_rate', 'eval_kl', 'pareto']) {
      assert.ok(await view.page.$(`[data-chart="${id}"]`), `chart ${id} is missing`);
    }
    await waitFor(async () => (await inkedPixels(view.page, 'loss')) > 500 || undefined, 'the loss chart to draw');
    const axes = await view.page.$$eval('[data-chart="loss"] .u-axis, [data-chart="loss"] .u-legend', (nodes) => nodes.map((n) => n.textContent ?? '').join(' '));
    // uPlot draws axis labels on the canvas; the legend names every series with its value at the cursor
    for (const label of ['step', 'total', 'forward', 'backward', 'regulariser']) assert.ok(axes.includes(label), `loss legend lacks ${label}: ${axes}`);
    const headerText = await view.page.textContent('.run-header');
    assert.match(headerText ?? '', /fixture-completed/);
    assert.match(headerText ?? '', /step 4 of 4/);
    assert.match(headerText ?? '', /reward\s*keyword/);
    assert.deepEqual(await cspViolations(view.page), []);
    assert.deepEqual(view.problems(), []);
    await view.page.close();
  });

  it('says how many lines it skipped, where the first is and why, and opens the file there; unknown metrics are charted', async () => {
    const records = [...completed.metrics, { kind: 'train' as const, step: 5, time: 1, 'my/own_metric': 3, 'my/second': 1 }];
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records }] });
    // Unknown metrics are charted under Other, grouped by prefix: my/own_metric and my/second together.
    const legend = await view.page.textContent('[data-chart="other:my"] .u-legend') ?? '';
    assert.ok(legend.includes('own_metric') && legend.includes('second'), legend);
    const hostile = 'not JSON ("<img src=x onerror=alert(1)>")';
    await view.send({ type: 'skipped', seq: 2, skipped: [{ dir: '/runs/a', file: 'metrics.jsonl', count: 2, firstLine: 3, reason: hostile }] });
    await view.page.waitForSelector('.skipped-lines:not([hidden])');
    const text = await view.page.textContent('.skipped-lines') ?? '';
    assert.ok(text.includes(`metrics.jsonl: 2 lines skipped, first at line 3: ${hostile}`), text);
    assert.equal(await view.page.$('.skipped-lines img'), null);  // the reason stays text
    await view.page.click('.skipped-lines vscode-button');
    const opened = await view.waitForPosted('openMetricsFile');
    assert.deepEqual(opened, { type: 'openMetricsFile', dir: '/runs/a', line: 3 });
    await view.send({ type: 'skipped', seq: 3, skipped: [] });
    await view.page.waitForSelector('.skipped-lines[hidden]', { state: 'attached' });
    assert.deepEqual(view.problems(), []);
    await view.page.close();
  });

  it('draws the charts run.json names for an algorithm the editor has never heard of, and every metric under Other for older runs', async () => {
    const { metric_groups: _groups, distilled_n: _n, config_summary: _summary, ...older } = completed.meta;
    const novel = {
      ...completed.meta, algorithm: 'my-new-algorithm', distilled_n: 8,
      config_summary: [{ label: 'temperature of the judge', value: '0.3' }],
      metric_groups: [
        { id: 'loss', title: 'Loss', section: 'training' as const, table: 'train' as const, smooth: true, series: [{ key: 'loss/total', label: 'total' }] },
        { id: 'judge', title: 'Judge agreement', section: 'training' as const, table: 'train' as const, smooth: true,
          series: [{ key: 'reward/policy', label: 'agreement' }], reference: { label: 'chance 0.125', value: 0.125 } },
      ],
    };
    const records = syntheticMetrics(60, { evalEvery: 20 });
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [toDashboardRun('/runs/n', novel, 'completed', NOW)], metrics: [{ dir: '/runs/n', records }] });
    await view.page.waitForSelector('[data-chart="judge"]');
    assert.match(await view.page.textContent('[data-chart="judge"]') ?? '', /Judge agreement/);
    assert.match(await view.page.textContent('[data-chart="judge"] .u-legend') ?? '', /chance 0\.125/);
    assert.equal(await view.page.$('[data-chart="quantile"]'), null, 'no chart the run did not name');
    assert.ok(await view.page.$('[data-chart="other:kl"]'), 'metrics no group names are charted under Other');
    assert.match(await view.page.textContent('.run-header') ?? '', /temperature of the judge\s*0\.3/);
    await view.page.close();
    const legacy = await harness.open('dashboard', { theme: 'dark' });
    await legacy.send({ type: 'snapshot', seq: 1, runs: [toDashboardRun('/runs/o', older as typeof completed.meta, 'completed', NOW)], metrics: [{ dir: '/runs/o', records }] });
    // A run from before metric_groups: the editor has no chart list of its own, so every metric is
    // charted under Other, one chart per prefix, with data in it (nothing blank, nothing hidden).
    await legacy.page.waitForSelector('[data-chart="other:quantile"]');
    const ids = await legacy.page.$$eval('[data-chart]', (charts) => charts.map((c) => c.getAttribute('data-chart')));
    assert.ok(['other:loss', 'other:reward', 'other:kl', 'other:eval:eval/reward'].every((id) => ids.includes(id)), ids.join(' '));
    assert.ok(ids.every((id) => id?.startsWith('other:')), ids.join(' '));
    assert.deepEqual(legacy.problems(), []);
    await legacy.page.close();
  });

  it('a metric written every N-th step (run.json\'s `every`) is drawn as a line through its points, as densely written ones are', async () => {
    // J-BOND's kl/policy_ref: the reference's pass runs on the first and every 10th step only.
    const meta = {
      ...completed.meta,
      metric_groups: (completed.meta.metric_groups ?? []).map((group) => group.id !== 'kl_ref' ? group
        : { ...group, series: group.series.map((series) => ({ ...series, every: 10 })) }),
    };
    assert.ok(meta.metric_groups.some((g) => g.id === 'kl_ref'), 'the fixture charts kl_ref');
    const records = syntheticMetrics(200).map((record) => {
      if (record.kind !== 'train' || record.step === 1 || record.step % 10 === 0) return record;
      const { 'kl/policy_ref': _dropped, ...rest } = record;
      return rest as typeof record;
    });
    assert.equal(records.filter((r) => 'kl/policy_ref' in r).length, 21);
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [toDashboardRun('/runs/e', meta, 'completed', NOW)], metrics: [{ dir: '/runs/e', records }] });
    const dense = await waitFor(async () => { const n = await inkedPixels(view.page, 'kl_anchor'); return n > 500 ? n : undefined; }, 'the dense KL chart to draw');
    const sparse = await waitFor(async () => { const n = await inkedPixels(view.page, 'kl_ref'); return n > 500 ? n : undefined; }, 'the every-10th KL chart to draw');
    // A line joins the 21 points across the chart: about as much ink as a line through 200 points.
    assert.ok(sparse > dense / 4, `every-10th chart ${sparse} px against ${dense} px for the dense one`);
    assert.doesNotMatch(await view.page.textContent('body') ?? '', /skipped/i, 'a metric absent by design is not reported as skipped');
    assert.deepEqual(view.problems(), []);
    await view.page.close();
  });

  it('draws the −1/N target and the KL bound as reference lines named in the legend', async () => {
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records: syntheticMetrics(200, { evalEvery: 50 }) }] });
    const quantile = await view.page.textContent('[data-chart="quantile"] .u-legend');
    assert.match(quantile ?? '', /target −1\/N \(N=2\)/);
    const kl = await view.page.textContent('[data-chart="kl_ref"] .u-legend');
    assert.match(kl ?? '', /BoN bound log N − \(N−1\)\/N \(N=4\)/);
    // hovering one chart moves the crosshair of the others: the reward legend shows values too
    assert.match(await view.page.textContent('[data-chart="reward"] .u-legend') ?? '', /policy–anchor–/); // label then value; – until the cursor is on the chart
    await view.page.hover('[data-chart="loss"] .u-over', { position: { x: 150, y: 60 } });
    await view.page.waitForFunction(() => /policy[−\d]/.test(document.querySelector('[data-chart="reward"] .u-legend')?.textContent ?? ''));
    await view.page.close();
  });

  it('moving the smoothing slider changes the drawn line', async () => {
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records: syntheticMetrics(300) }] });
    await waitFor(async () => (await inkedPixels(view.page, 'reward')) > 500 || undefined, 'the reward chart to draw');
    const before = await canvasSignature(view.page, 'reward');
    await view.page.$eval('.smoothing-slider', (el) => {
      (el as HTMLInputElement).value = '0.95';
      el.dispatchEvent(new Event('input'));
    });
    await view.page.waitForTimeout(100);
    const smoothed = await canvasSignature(view.page, 'reward');
    assert.notEqual(smoothed, before, 'the canvas did not change with the smoothing');
    assert.equal(((await view.state()) as { smoothing: number }).smoothing, 0.95);
    await view.page.$eval('.smoothing-slider', (el) => {
      (el as HTMLInputElement).value = '0';
      el.dispatchEvent(new Event('input'));
    });
    await view.page.waitForTimeout(100);
    assert.notEqual(await canvasSignature(view.page, 'reward'), smoothed);
    await view.page.close();
  });

  it('appends new points live without rebuilding the charts, and asks for a snapshot on a sequence gap', async () => {
    const records = syntheticMetrics(120);
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records: records.slice(0, 100) }] });
    await view.page.evaluate(() => {
      (window as unknown as { __marker: Element | null }).__marker = document.querySelector('[data-chart="loss"] canvas');
    });
    await view.send({ type: 'append', seq: 2, dir: '/runs/a', records: records.slice(100, 110) });
    await view.page.waitForFunction(() => document.querySelector('[data-chart="loss"]')?.getAttribute('data-last-x') === '110');
    const same = await view.page.evaluate(() => (window as unknown as { __marker: Element | null }).__marker === document.querySelector('[data-chart="loss"] canvas'));
    assert.ok(same, 'the chart was rebuilt instead of extended');
    // seq 4 skips 3: the view must not apply it, and must ask for a snapshot
    await view.send({ type: 'append', seq: 4, dir: '/runs/a', records: records.slice(110, 120) });
    const request = await view.waitForPosted('requestSnapshot');
    assert.match(String(request.reason), /seq 4/);
    await view.page.waitForTimeout(100);
    assert.equal(await view.page.getAttribute('[data-chart="loss"]', 'data-last-x'), '110');
    await view.page.close();
  });

  it('a live chart follows its run through every update; a drag zoom holds and says so; Reset follows again; the time axis spans the run', async () => {
    const records = syntheticMetrics(40);
    const xRange = async (id: string) => view.page.evaluate((chart) => {
      const el = document.querySelector<HTMLElement>(`[data-chart="${chart}"]`);
      return { min: Number(el?.dataset.xMin), max: Number(el?.dataset.xMax), last: Number(el?.dataset.lastX), zoomed: el?.dataset.zoomed === 'true' };
    }, id);
    /** After an append, the plotted x range must reach the new last point within 2 s. */
    const followsTo = async (step: number) => {
      await view.page.waitForFunction((s) => Number(document.querySelector<HTMLElement>('[data-chart="loss"]')?.dataset.xMax) >= s, step, { timeout: 2_000 })
        .catch(async () => assert.fail(`the chart stopped following: x range ${JSON.stringify(await xRange('loss'))}, latest step ${step}`));
    };
    // opened at step 2 of a running run
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records: records.slice(0, 2) }] });
    await followsTo(2);
    let seq = 1;
    for (const [from, to] of [[2, 5], [5, 9], [9, 14], [14, 20]] as const) {
      await view.send({ type: 'append', seq: ++seq, dir: '/runs/a', records: records.slice(from, to) });
      await followsTo(to);
      assert.equal((await xRange('loss')).min, 1, 'the range starts at the first step');
    }
    // A drag zooms to a window: it holds while data arrives, and the chart says it is zoomed.
    const over = await view.page.$('[data-chart="loss"] .u-over');
    const box = (await over!.boundingBox())!;
    await view.page.mouse.move(box.x + box.width * 0.25, box.y + box.height / 2);
    await view.page.mouse.down();
    await view.page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
    await view.page.mouse.up();
    await view.page.waitForFunction(() => document.querySelector<HTMLElement>('[data-chart="loss"]')?.dataset.zoomed === 'true');
    const zoomed = await xRange('loss');
    assert.ok(zoomed.min > 1 && zoomed.max < 20, `zoomed to the dragged window: ${JSON.stringify(zoomed)}`);
    assert.ok(await view.page.isVisible('[data-chart="loss"] .zoom-badge'), 'a zoomed chart says so');
    await view.send({ type: 'append', seq: ++seq, dir: '/runs/a', records: records.slice(20, 26) });
    await view.page.waitForFunction(() => document.querySelector<HTMLElement>('[data-chart="loss"]')?.dataset.lastX === '26');
    await view.page.waitForTimeout(100);
    assert.deepEqual(await xRange('loss'), { ...zoomed, last: 26 }, 'the zoom held while data arrived');
    // Reset (the badge) follows the run again, through later updates.
    await view.page.click('[data-chart="loss"] .zoom-badge');
    await followsTo(26);
    assert.equal((await xRange('loss')).zoomed, false);
    assert.ok(!(await view.page.isVisible('[data-chart="loss"] .zoom-badge')));
    for (const [from, to] of [[26, 31], [31, 40]] as const) {
      await view.send({ type: 'append', seq: ++seq, dir: '/runs/a', records: records.slice(from, to) });
      await followsTo(to);
    }
    // Zoom again, then switch to wall time: the whole run shows, from its first to its last point.
    await view.page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await view.page.mouse.down();
    await view.page.mouse.move(box.x + box.width * 0.5, box.y + box.height / 2, { steps: 5 });
    await view.page.mouse.up();
    await view.page.waitForFunction(() => document.querySelector<HTMLElement>('[data-chart="loss"]')?.dataset.zoomed === 'true');
    await view.page.evaluate(() => {
      const select = document.querySelector('vscode-single-select') as HTMLElement & { value: string };
      select.value = 'time';
      select.dispatchEvent(new Event('change'));
    });
    await view.page.waitForFunction(() => document.querySelector<HTMLElement>('[data-chart="loss"]')?.dataset.zoomed === 'false');
    const time = await xRange('loss');
    assert.ok(time.last > 0 && time.max >= time.last && time.min <= 0.5, `the time axis spans the run: ${JSON.stringify(time)}`);
    assert.ok(time.max - time.min >= 0.9 * time.last, `not a window of the run: ${JSON.stringify(time)}`);
    await view.page.close();
  });

  it('marks the step where a resume changed the config, on every chart and in the header, also when a later update brings it', async () => {
    const records = syntheticMetrics(60);
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records }] });
    assert.equal(await view.page.getAttribute('[data-chart="loss"]', 'data-config-changes'), '');
    const resumed = { ...header('/runs/a'), configChanges: [{ step: 30, changes: ['bond.beta 0.3 → 0.9', '<img src=x onerror=alert(1)>'] }] };
    const before = await canvasSignature(view.page, 'loss');
    await view.send({ type: 'runs', seq: 2, runs: [resumed] });
    await view.page.waitForFunction(() => document.querySelector('[data-chart="loss"]')?.getAttribute('data-config-changes') === '0:30');
    const marks = await view.page.$$eval('[data-chart]:not([data-chart="pareto"])', (charts) => charts.map((c) => (c as HTMLElement).dataset.configChanges));
    assert.ok(marks.length > 3 && marks.every((m) => m === '0:30'), `every chart marks step 30: ${JSON.stringify(marks)}`);
    assert.notEqual(await canvasSignature(view.page, 'loss'), before, 'the mark is drawn');
    const note = await view.page.textContent('.run-config-change');
    assert.equal(note, 'config changed at step 30: bond.beta 0.3 → 0.9, <img src=x onerror=alert(1)>');
    assert.equal(await view.page.$$eval('.run-header img', (imgs) => imgs.length), 0, 'text, never markup');
    await view.page.close();
  });

  it('a finished run shows its headline numbers in the header, as text', async () => {
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records: fixtureRun('completed').metrics }] });
    const summary = await view.page.textContent('.run-summary');
    const s = completed.meta.summary!;
    assert.ok(summary?.includes(`policy ${s.reward_policy.toFixed(3)}`) && summary.includes('effective N') && summary.includes(s.kl_bon_bound.toFixed(3)), summary ?? '');
    await view.page.close();
  });

  it('a chart\'s y axis goes logarithmic on its own toggle, stays so through appends, and says when its values cannot', async () => {
    const records = syntheticMetrics(80, { evalEvery: 40 });
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records: records.slice(0, 40) }] });
    const logY = (id: string) => view.page.getAttribute(`[data-chart="${id}"]`, 'data-log-y');
    assert.equal(await logY('grad_norm'), 'off');
    const linear = await canvasSignature(view.page, 'grad_norm');
    await view.page.click('[data-chart="grad_norm"] .log-toggle');
    await view.page.waitForSelector('[data-chart="grad_norm"][data-log-y="on"]');
    await waitFor(async () => (await canvasSignature(view.page, 'grad_norm')) !== linear || undefined, 'the log chart to redraw');
    assert.equal(await view.page.textContent('[data-chart="grad_norm"] .log-toggle'), 'linear y');
    assert.deepEqual((await view.state() as { logCharts: string[] }).logCharts, ['grad_norm'], 'the choice is kept');
    assert.equal(await logY('loss'), 'off', 'one chart\'s toggle leaves the others alone');
    const before = Number(await view.page.getAttribute('[data-chart="grad_norm"]', 'data-last-x'));
    await view.send({ type: 'append', seq: 2, dir: '/runs/a', records: records.slice(40, 60) });
    await view.page.waitForFunction((x) => Number(document.querySelector('[data-chart="grad_norm"]')?.getAttribute('data-last-x')) > x, before);
    assert.equal(await logY('grad_norm'), 'on');
    // the log-quantile is negative: asked for log, the chart stays linear and the toggle says why
    await view.page.click('[data-chart="quantile"] .log-toggle');
    await view.page.waitForSelector('[data-chart="quantile"][data-log-y="unavailable"]');
    assert.match(await view.page.textContent('[data-chart="quantile"] .log-toggle') ?? '', /values ≤ 0/);
    await view.page.click('[data-chart="grad_norm"] .log-toggle');
    await view.page.waitForSelector('[data-chart="grad_norm"][data-log-y="off"]');
    assert.deepEqual(view.problems(), []);
    await view.page.close();
  });

  it('charts people can read: reference lines from the first eval point, round Pareto ticks, ignore outliers, keyboard reachable', async () => {
    const records = syntheticMetrics(60, { evalEvery: 60, spikeStep: 30 }); // one eval point
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records }] });
    await view.page.waitForSelector('[data-chart="eval_effective_n"][data-reference-lines="1"]');
    const ticks = JSON.parse(await view.page.getAttribute('[data-chart="pareto"]', 'data-ticks') ?? '{}') as { x: number[]; y: number[] };
    for (const tick of [...ticks.x, ...ticks.y]) {
      assert.ok(Math.abs(tick * 1000 - Math.round(tick * 1000)) < 1e-6 && /^-?\d+(\.\d{1,2})?$/.test(String(tick)) || Math.abs(tick) >= 1, `not a round tick: ${tick}`);
    }
    const yMax = async () => Number(await view.page.getAttribute('[data-chart="loss"]', 'data-y-max'));
    await view.page.$eval('.smoothing-slider', (el) => {
      (el as HTMLInputElement).value = '0';
      el.dispatchEvent(new Event('input'));
    });
    await view.page.waitForFunction(() => Number(document.querySelector('[data-chart="loss"]')?.getAttribute('data-y-max')) >= 1000);
    await view.page.check('input[aria-label="ignore outliers in chart scaling"]');
    await view.page.waitForFunction(() => Number(document.querySelector('[data-chart="loss"]')?.getAttribute('data-y-max')) < 1000);
    assert.ok(await yMax() < 100, `the spike no longer sets the range: ${await yMax()}`);
    assert.equal((await view.state() as { ignoreOutliers: boolean }).ignoreOutliers, true, 'the choice is kept');
    // keyboard: every chart is a named stop in the tab order; Escape returns a zoomed one to following
    const named = await view.page.$$eval('[data-chart]:not([data-chart="pareto"])', (charts) => charts.map((c) => [c.getAttribute('tabindex'), c.getAttribute('aria-label')]));
    assert.ok(named.every(([tab, label]) => tab === '0' && /chart$/.test(label ?? '')), JSON.stringify(named));
    const box = (await (await view.page.$('[data-chart="loss"] .u-over'))!.boundingBox())!;
    await view.page.mouse.move(box.x + box.width * 0.3, box.y + 20);
    await view.page.mouse.down();
    await view.page.mouse.move(box.x + box.width * 0.6, box.y + 20, { steps: 4 });
    await view.page.mouse.up();
    await view.page.waitForFunction(() => document.querySelector('[data-chart="loss"]')?.getAttribute('data-zoomed') === 'true');
    await view.page.focus('[data-chart="loss"]');
    await view.page.keyboard.press('0');
    await view.page.waitForFunction(() => document.querySelector('[data-chart="loss"]')?.getAttribute('data-zoomed') === 'false');
    await view.page.close();
  });

  it('keeps a one-step spike visible when a long history is decimated', async () => {
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records: syntheticMetrics(50_000, { spikeStep: 31_337 }) }] });
    await view.page.$eval('.smoothing-slider', (el) => {
      (el as HTMLInputElement).value = '0';
      el.dispatchEvent(new Event('input'));
    });
    await view.page.waitForTimeout(200);
    // The y axis reaches the spike's 1000 only if the decimated data kept it.
    const ticks = await view.page.evaluate(() => {
      const legend = document.querySelector('[data-chart="loss"]');
      return legend?.getAttribute('data-points');
    });
    assert.equal(ticks, '50000');
    const yMax = Number(await view.page.getAttribute('[data-chart="loss"]', 'data-y-max'));
    const shown = Number(await view.page.getAttribute('[data-chart="loss"]', 'data-shown'));
    assert.ok(yMax >= 1000, `the spike was lost by decimation: the y axis ends at ${yMax}`);
    assert.ok(shown < 10_000, `not decimated: ${shown} points handed to the chart`);
    await view.page.close();
  });

  it('a long run\'s history, reduced by the host, keeps its spike, says how many lines stand for how many, and follows appends', async () => {
    const history = new MetricHistory();
    history.addAll(syntheticMetrics(120_000, { spikeStep: 77_777, evalEvery: 100 }));
    const { records, lines } = history.reduced(SNAPSHOT_ALL_LINES_UP_TO, SNAPSHOT_BUCKETS);
    assert.ok(records.length < lines / 5, `reduced: ${records.length} of ${lines}`);
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records, lines }] });
    const notice = await view.page.textContent('.reduced-lines');
    assert.ok(await view.page.isVisible('.reduced-lines'), 'a reduced history says so');
    assert.match(notice ?? '', new RegExp(`${lines.toLocaleString('en-US')} metric lines, drawn from ${records.length.toLocaleString('en-US')} of them`));
    await view.page.$eval('.smoothing-slider', (el) => {
      (el as HTMLInputElement).value = '0';
      el.dispatchEvent(new Event('input'));
    });
    await view.page.waitForFunction(() => Number(document.querySelector('[data-chart="loss"]')?.getAttribute('data-y-max')) >= 1000, undefined, { timeout: 5_000 })
      .catch(() => assert.fail('the spike was lost by the reduction'));
    const train = records.filter((r) => r.kind === 'train').length;
    assert.equal(await view.page.getAttribute('[data-chart="loss"]', 'data-points'), String(train));
    // Lines after the snapshot come whole, as appends, and the chart follows them.
    const later = syntheticMetrics(120_002, { seed: 9 }).slice(-2).map((r, i) => ({ ...r, step: 120_001 + i }));
    await view.send({ type: 'append', seq: 2, dir: '/runs/a', records: later });
    await view.page.waitForFunction(() => document.querySelector<HTMLElement>('[data-chart="loss"]')?.dataset.lastX === '120002');
    // A whole history (no `lines` beyond its records) says nothing of the kind.
    await view.send({ type: 'snapshot', seq: 3, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records: completed.metrics, lines: completed.metrics.length }] });
    await view.page.waitForFunction(() => (document.querySelector('.reduced-lines') as HTMLElement | null)?.hidden === true, undefined, { timeout: 5_000 });
    await view.page.close();
  });

  it('overlays several runs in compare mode, one colour per run, with the Pareto scatter', async () => {
    const a = syntheticMetrics(200, { evalEvery: 50, seed: 1 });
    const b = syntheticMetrics(150, { evalEvery: 50, seed: 7 });
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a', 'jbond-run'), header('/runs/b', 'reinforce-run')],
      metrics: [{ dir: '/runs/a', records: a }, { dir: '/runs/b', records: b }] });
    // one legend of runs for the dashboard; under each chart its series once, as line styles
    assert.equal(await view.page.textContent('.runs-legend'), 'jbond-runreinforce-run');
    assert.equal(await view.page.$$eval('[data-chart="reward"] .u-legend', (n) => n.length), 0, 'no legend of runs × series per chart');
    assert.equal(await view.page.textContent('[data-chart="reward"] .series-key'), 'policyanchorBest-of-N');
    assert.equal(await view.page.$$eval('.run-header', (n) => n.length), 2);
    await waitFor(async () => (await inkedPixels(view.page, 'pareto')) > 300 || undefined, 'the Pareto scatter to draw');
    assert.match(await view.page.textContent('[data-chart="pareto"]') ?? '', /jbond-run: eval/);
    await view.page.screenshot({ path: join(ARTIFACTS, 'dashboard-compare-dark.png'), fullPage: false });
    await view.page.close();
  });

  it('compare mode tables the config fields that differ and the last evaluation, sortable, in the runs\' colours', async () => {
    const withConfig = (dir: string, name: string, eta: number, seed: number) => {
      const meta = { ...completed.meta, name, config: { ...completed.meta.config,
        bond: { ...(completed.meta.config.bond as object), ema_eta: eta }, train: { ...(completed.meta.config.train as object), seed } } };
      return toDashboardRun(dir, meta, 'completed', NOW);
    };
    const a = syntheticMetrics(200, { evalEvery: 50, seed: 1 });
    const b = syntheticMetrics(150, { evalEvery: 40, seed: 7 });  // last eval at step 120 of 150: a lower effective N
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [withConfig('/runs/a', 'slow-anchor', 0.01, 1), withConfig('/runs/b', 'fast-anchor', 0.1, 1)],
      metrics: [{ dir: '/runs/a', records: a }, { dir: '/runs/b', records: b }] });
    await view.page.waitForSelector('.compare-table');
    const headings = await view.page.$$eval('.compare-table th', (cells) => cells.map((c) => c.textContent ?? ''));
    assert.ok(headings.some((t) => t.startsWith('bond.ema_eta')), headings.join(' | '));
    assert.ok(!headings.some((t) => t.startsWith('train.seed') || t.startsWith('train.lr')), 'fields that agree are left out');
    for (const label of ['reward', 'KL(π‖π_ref)', 'effective N', 'win rate']) assert.ok(headings.some((t) => t.startsWith(label)), label);
    const lastN = (records: typeof a) => records.filter((r) => r.kind === 'eval').at(-1)?.['eval/effective_n'] as number;
    const order = async () => view.page.$$eval('.compare-table tbody tr', (rows) => rows.map((r) => r.getAttribute('data-dir')));
    assert.notEqual(lastN(a), lastN(b));
    const byN = [['/runs/a', lastN(a)], ['/runs/b', lastN(b)]].sort((x, y) => (y[1] as number) - (x[1] as number)).map((x) => x[0]);
    const cards = async () => view.page.$$eval('.run-header', (rows) => rows.map((r) => r.getAttribute('data-dir')));
    assert.deepEqual(await order(), ['/runs/a', '/runs/b'], 'the order the runs were picked in, by default');
    assert.deepEqual(await cards(), await order(), 'the header cards in the table\'s order');
    // results first, then what differs; the run's name is not a difference worth a column
    assert.deepEqual(headings.slice(0, 5).map((t) => t.replace(/ [▲▼]$/, '')), ['run', 'reward', 'KL(π‖π_ref)', 'effective N', 'win rate']);
    assert.ok(!headings.some((t) => t.startsWith('name')), headings.join(' | '));
    await view.page.click('.compare-table th[data-column="eval/effective_n"] button');
    assert.deepEqual(await order(), byN, 'sorted by effective N, highest first');
    assert.deepEqual(await cards(), byN, 'and the cards with it');
    await view.page.click('.compare-table th[data-column="eval/effective_n"] button');
    assert.deepEqual(await order(), [...byN].reverse());
    await view.page.click('.compare-table th[data-column="bond.ema_eta"] button');
    assert.deepEqual(await order(), ['/runs/b', '/runs/a']);  // 0.1 before 0.01, descending
    // the cards collapse to their headline, so the charts show on a small window
    await view.page.setViewportSize({ width: 900, height: 700 });
    const top = await view.page.$eval('[data-chart]', (el) => el.getBoundingClientRect().top);
    assert.ok(top < 700, `a chart in view at 900×700 (its top at ${top} px)`);
    // The table's swatches are the runs' colours in the header (and every chart).
    const tableColours = await view.page.$$eval('.compare-table tbody tr', (rows) => Object.fromEntries(rows.map((r) =>
      [r.getAttribute('data-dir'), (r.querySelector('.swatch') as HTMLElement).style.background])));
    const headerColours = await view.page.$$eval('.run-header', (rows) => Object.fromEntries(rows.map((r) =>
      [r.getAttribute('data-dir'), (r.querySelector('.swatch') as HTMLElement).style.background])));
    assert.deepEqual(tableColours, headerColours);
    assert.notEqual(tableColours['/runs/a'], tableColours['/runs/b']);
    await view.page.close();
  });

  it('shows a hostile run name as literal text in the header and legends', async () => {
    const name = '<img src=x onerror="window.__canary=1"><script>window.__canary=2</script>';
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a', name), header('/runs/b', 'javascript:window.__canary=3')],
      metrics: [{ dir: '/runs/a', records: syntheticMetrics(20) }, { dir: '/runs/b', records: syntheticMetrics(20) }] });
    assert.ok((await view.page.textContent('.runs-header'))?.includes(name));
    assert.ok((await view.page.textContent('.runs-legend'))?.includes(name));
    assert.ok((await view.page.textContent('.compare-table'))?.includes(name));
    assert.equal(await view.page.$$eval('.runs-header img, .runs-header script, .runs-legend img, .compare-table img, .compare-table a', (n) => n.length), 0);
    await view.page.waitForTimeout(100);
    assert.equal(await view.page.evaluate(() => (window as unknown as { __canary?: unknown }).__canary), undefined);
    assert.deepEqual(await cspViolations(view.page), []);
    await view.page.close();
  });

  it('the header names the model and the number of torchrun processes, as text', async () => {
    const model = 'tiny-llama <b>chat</b> (llama), 0.04M parameters, float32; LoRA r=4: 0.001M trainable';
    const run = { ...header('/runs/a'), model, worldSize: 4, device: 'cuda:0 (NVIDIA H100)', precision: 'bf16' };
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [run], metrics: [{ dir: '/runs/a', records: syntheticMetrics(5) }] });
    assert.equal(await view.page.textContent('.run-model'), model);
    assert.equal(await view.page.textContent('.run-device'), 'cuda:0 (NVIDIA H100) × 4 processes · bf16');
    assert.equal(await view.page.$$eval('.run-model b', (n) => n.length), 0);
    // A plain run says nothing about processes.
    await view.send({ type: 'runs', seq: 2, runs: [{ ...run, worldSize: 1 }] });
    await view.page.waitForFunction(() => document.querySelector('.run-device')?.textContent === 'cuda:0 (NVIDIA H100) · bf16');
    await view.page.close();
  });

  it('header updates while a run trains keep the focused button focused', async () => {
    const running = { ...header('/runs/a'), status: 'running', canStop: true, canResume: false, step: 10, totalSteps: 100, etaSeconds: 90 };
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [running], metrics: [{ dir: '/runs/a', records: syntheticMetrics(10) }] });
    await view.page.focus('vscode-button[data-command="stop"]');
    await view.send({ type: 'runs', seq: 2, runs: [{ ...running, step: 11, etaSeconds: 89 }] });
    await view.page.waitForFunction(() => document.querySelector('.run-step')?.textContent === 'step 11 of 100');
    assert.equal(await view.page.evaluate(() => (document.activeElement as HTMLElement | null)?.dataset.command), 'stop');
    assert.match(await view.page.textContent('.run-eta') ?? '', /ETA 1:29/);
    // a change of shape (the run stopped: Resume instead of Stop) rebuilds the header
    await view.send({ type: 'runs', seq: 3, runs: [{ ...running, step: 12, status: 'stopped', canStop: false, canResume: true, etaSeconds: null }] });
    await view.page.waitForSelector('vscode-button[data-command="resume"]');
    assert.equal(await view.page.$('vscode-button[data-command="stop"]'), null);
    await view.page.close();
  });

  it('header buttons post the same commands as the palette, and CSV/PNG exports are posted', async () => {
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [{ ...header('/runs/a'), status: 'running', canStop: true, canResume: false }], metrics: [{ dir: '/runs/a', records: syntheticMetrics(50) }] });
    await view.page.click('vscode-button[data-command="stop"]');
    await view.page.click('vscode-button[data-command="openSamples"]');
    await view.page.click('[data-chart="loss"] button:text("CSV")');
    await view.page.click('[data-chart="loss"] button:text("PNG")');
    await waitFor(async () => (await view.posted()).some((m) => m.type === 'exportPng') || undefined, 'the PNG export');
    const posted = await view.posted();
    assert.deepEqual(posted.filter((m) => m.type === 'command').map((m) => m.command), ['stop', 'openSamples']);
    const csv = posted.find((m) => m.type === 'exportCsv') as unknown as { fileName: string; content: string };
    const run = completed.meta.name;
    assert.equal(csv.fileName, `${run}-loss.csv`, 'named after the run and the chart');
    const lines = csv.content.trim().split('\n');
    assert.equal(lines[0], `"step","${run} · total (raw)","${run} · total (smoothed 0.6)","${run} · forward (raw)","${run} · forward (smoothed 0.6)"`
      + lines[0]!.slice(lines[0]!.indexOf(`,"${run} · backward`)), 'step, then each series raw then smoothed, naming the run');
    assert.equal(lines.length, 51);
    const first = lines[1]!.split(',');
    const raw = syntheticMetrics(50)[0]!['loss/total'] as number;
    assert.equal(Number(first[1]), raw, 'the raw column is the raw value');
    const png = posted.find((m) => m.type === 'exportPng') as unknown as { fileName: string; dataUrl: string };
    assert.match(png.dataUrl, /^data:image\/png;base64,/);
    assert.equal(png.fileName, `${run}-loss.png`);
    await view.page.close();
  });

  it('a PNG for a paper: ≥ 1200 px and 2× the screen, title, legend, a light background by choice, no interaction overlays', async () => {
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records: syntheticMetrics(80, { evalEvery: 20 }) }] }, 'dark');
    const render = (background: 'light' | 'theme') => view.page.evaluate(async (bg) => {
      const chart = document.querySelector('[data-chart="reward"]') as HTMLElement;
      const select = document.querySelector('vscode-single-select[aria-label="background of exported pictures"]') as HTMLElement & { value: string };
      select.value = bg;
      select.dispatchEvent(new Event('change'));
      const before = (window as unknown as { __posted: { type: string }[] }).__posted.length;
      (chart.querySelector('button[title^="Save this chart"]') as HTMLButtonElement).click();
      const posted = (window as unknown as { __posted: { type: string; dataUrl?: string }[] }).__posted.slice(before);
      const url = posted.find((m) => m.type === 'exportPng')?.dataUrl ?? '';
      const image = new Image();
      image.src = url;
      await image.decode();
      const canvas = document.createElement('canvas');
      canvas.width = image.width;
      canvas.height = image.height;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(image, 0, 0);
      const pixel = (x: number, y: number) => [...ctx.getImageData(x, y, 1, 1).data];
      const inked = (x0: number, y0: number, w: number, h: number) => {
        const data = ctx.getImageData(x0, y0, w, h).data;
        const [r, g, b] = pixel(0, 0);
        let n = 0;
        for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i]! - r!) + Math.abs(data[i + 1]! - g!) + Math.abs(data[i + 2]! - b!) > 60) n++;
        return n;
      };
      const screenWidth = (chart.querySelector('canvas') as HTMLCanvasElement).width;
      return { url, width: image.width, height: image.height, screenWidth, corner: pixel(2, 2),
        title: inked(0, 0, 400, 30), legend: inked(0, image.height - 30, image.width, 30) };
    }, background);
    const light = await render('light');
    writeFileSync(join(ARTIFACTS, 'export-reward-light.png'), Buffer.from(light.url.split(',')[1] ?? '', 'base64'));
    assert.ok(light.width >= 1200 && light.width >= 2 * light.screenWidth, `${light.width} px for a ${light.screenWidth} px chart`);
    assert.deepEqual(light.corner, [255, 255, 255, 255], 'a light background for a paper');
    assert.ok(light.title > 50, 'the title is drawn');
    assert.ok(light.legend > 50, 'a legend is drawn');
    const dark = await render('theme');
    assert.ok(dark.corner[0]! < 80, `the theme's dark background: ${dark.corner.join(',')}`);
    // A samples marker on screen changes the chart, not the exported picture.
    await view.send({ type: 'marker', seq: 2, dir: '/runs/a', step: 40 });
    await view.page.waitForFunction(() => document.querySelector('[data-chart="reward"]')?.getAttribute('data-marker') === '0:40');
    const marked = await render('light');
    assert.equal(marked.url, light.url, 'no interaction overlay in the export');
    await view.page.close();
  });

  it('restores x axis, smoothing and hidden series from saved state, and screenshots both themes', async () => {
    const snapshot: HostToDashboard = { type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records: syntheticMetrics(400, { evalEvery: 50 }) }] };
    const first = await openWith(snapshot);
    await first.page.click('[data-chart="loss"] .u-legend .u-series:nth-child(3)'); // hide "forward"
    const saved = await first.state();
    assert.deepEqual((saved as { hidden: string[] }).hidden, ['loss/forward']);
    await first.page.close();
    for (const theme of ['dark', 'light'] as const) {
      const view = await openWith(snapshot, theme, { ...(saved as object), smoothing: 0.8, xAxis: 'time' });
      assert.equal(await view.page.$eval('.smoothing-slider', (el) => (el as HTMLInputElement).value), '0.8');
      // the x axis came back as wall time: the legend's first entry is the time, not the step
      assert.match(await view.page.textContent('[data-chart="loss"] .u-legend .u-series:first-child') ?? '', /^time/);
      const off = await view.page.$$eval('[data-chart="loss"] .u-legend .u-series.u-off', (nodes) => nodes.map((n) => n.textContent ?? ''));
      assert.equal(off.length, 1);
      assert.match(off[0] ?? '', /forward/);
      await view.page.waitForTimeout(150);
      await view.page.screenshot({ path: join(ARTIFACTS, `dashboard-${theme}.png`), fullPage: false });
      await view.page.close();
    }
  });

  it('a click on a chart point or a Pareto eval point asks for the samples at that step; a drag zooms instead', async () => {
    const records = syntheticMetrics(200, { evalEvery: 50, seed: 3 });
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records }] });
    const over = await view.page.$('[data-chart="reward"] .u-over');
    const box = (await over!.boundingBox())!;
    await view.page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    const asked = await view.waitForPosted('openSamplesAt');
    assert.equal(asked.dir, '/runs/a');
    const steps = records.filter((r) => r.kind === 'train').map((r) => r.step);
    const middle = (steps[0]! + steps.at(-1)!) / 2;
    assert.ok(Math.abs(Number(asked.step) - middle) <= 5, `clicked mid-chart (step ≈ ${middle}), asked for ${String(asked.step)}`);
    assert.ok(steps.includes(Number(asked.step)), 'the step is one the run has');
    // A drag zooms: no request.
    await view.page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
    await view.page.mouse.down();
    await view.page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
    await view.page.mouse.up();
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal((await view.posted()).filter((m) => m.type === 'openSamplesAt').length, 1);
    // The Pareto view: a click on an eval point asks for its step.
    const hits = JSON.parse(await view.page.getAttribute('[data-chart="pareto"]', 'data-hits') ?? '[]') as [number, number, number][];
    assert.ok(hits.length >= 3, `eval points drawn: ${hits.length}`);
    const [px, py, evalStep] = hits[1]!;
    // Dispatched in the page at the canvas's position then: moving the real pointer there passes over
    // the charts above, whose live legends can shift the layout on the way.
    await view.page.evaluate(([x, y]) => {
      const canvas = document.querySelector('[data-chart="pareto"] canvas')!;
      const rect = canvas.getBoundingClientRect();
      canvas.dispatchEvent(new MouseEvent('click', { clientX: rect.left + x!, clientY: rect.top + y!, bubbles: true }));
    }, [px + 2, py - 2]);
    await waitFor(async () => (await view.posted()).filter((m) => m.type === 'openSamplesAt').length === 2 || undefined, 'a second openSamplesAt');
    const fromPareto = (await view.posted()).filter((m) => m.type === 'openSamplesAt')[1]!;
    assert.deepEqual([fromPareto.dir, fromPareto.step], ['/runs/a', evalStep]);
    await view.page.close();
  });

  it('marks the step a samples view shows on every chart, and removes the mark when it goes', async () => {
    const records = syntheticMetrics(200, { evalEvery: 50, seed: 3 });
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [header('/runs/a')], metrics: [{ dir: '/runs/a', records }] });
    await waitFor(async () => (await inkedPixels(view.page, 'loss')) > 500 || undefined, 'the loss chart to draw');
    const before = await canvasSignature(view.page, 'loss');
    await view.send({ type: 'marker', seq: 2, dir: '/runs/a', step: 120 });
    await waitFor(async () => (await view.page.getAttribute('[data-chart="loss"]', 'data-marker')) === '0:120' || undefined, 'the marker on the loss chart');
    const marked = await view.page.$$eval('[data-chart]:not([data-chart="pareto"])', (charts) => charts.map((c) => (c as HTMLElement).dataset.marker));
    assert.ok(marked.length > 5 && marked.every((m) => m === '0:120'), `every chart marks step 120: ${JSON.stringify(marked)}`);
    assert.notEqual(await canvasSignature(view.page, 'loss'), before, 'the mark is drawn');
    await view.send({ type: 'marker', seq: 3, dir: '/runs/a', step: null });
    await waitFor(async () => (await view.page.getAttribute('[data-chart="loss"]', 'data-marker')) === '' || undefined, 'the marker to go');
    assert.equal(await canvasSignature(view.page, 'loss'), before);
    await view.page.close();
  });

  it('shows what the lenient reader said about run.json under the run\'s header, as text', async () => {
    const notes = ['run.json: status "paused" is not one this version knows; shown as it is', 'run.json: fields this version does not know (kept): <b>gpu_hours</b>'];
    const run = { ...toDashboardRun('/runs/a', { ...completed.meta, status: 'paused' }, 'paused', NOW, notes) };
    const view = await openWith({ type: 'snapshot', seq: 1, runs: [run], metrics: [{ dir: '/runs/a', records: completed.metrics }] });
    assert.deepEqual(await view.page.$$eval('.run-note', (nodes) => nodes.map((n) => n.textContent)), notes);
    assert.equal(await view.page.$$eval('.run-note b', (nodes) => nodes.length), 0);
    assert.match(await view.page.textContent('.run-header .status') ?? '', /paused/);
    await view.page.close();
  });
});
