/** The webviews' pure parts: smoothing, decimation, alignment, sample rows, the sequence rule, message parsing. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SampleRecord } from '../../contracts/run-directory';
import { parseDashboardMessage, parseDashboardState } from '../../contracts/webviews/dashboard';
import { SequenceTracker } from '../../contracts/webviews/guards';
import { parseInspectorMessage } from '../../contracts/webviews/inspector';
import { parsePlaygroundMessage, parsePlaygroundState } from '../../contracts/webviews/playground';
import { parseSamplesMessage, parseSamplesState } from '../../contracts/webviews/samples';
import { contentSecurityPolicy, renderWebviewHtml } from '../../src/core/webviewHtml';
import { gapToBon, klContribution, selectRows } from '../../webview/samples/rows';
import { alignTables, decimateMinMax, DebiasedEma, nearestIndex, smooth } from '../../webview/shared/series';
import { bestIndex } from '../../src/webviews/playground';
import { fixtureRun } from '../webview/harness';

describe('nearest index (chart clicks, the samples view\'s nearest snapshot)', () => {
  it('finds the nearest value in an ascending list, the earlier one on a tie', () => {
    const steps = [10, 20, 30, 40];
    assert.deepEqual([1, 10, 14, 15, 16, 27, 99].map((t) => nearestIndex(steps, t)), [0, 0, 0, 0, 1, 2, 3]);
    assert.equal(nearestIndex([], 5), null);
  });
});

describe('debiased EMA (TensorBoard smoothing)', () => {
  it('matches the formula: EMA from 0 divided by 1 − w^k', () => {
    const w = 0.6;
    const values = [1, 2, 3, 10];
    let last = 0;
    const expected = values.map((v, i) => {
      last = last * w + (1 - w) * v;
      return last / (1 - w ** (i + 1));
    });
    smooth(values, w).forEach((v, i) => assert.ok(Math.abs((v as number) - (expected[i] as number)) < 1e-12));
    assert.equal(smooth(values, w)[0], 1, 'debiasing makes the first point its own value');
  });

  it('passes non-finite points through and continues the count over finite ones', () => {
    assert.deepEqual(smooth([2, null, Number.NaN, 2], 0.9).map((v) => (v === null ? null : Number.isNaN(v) ? 'NaN' : Math.round(v * 1e9) / 1e9)), [2, null, 'NaN', 2]);
  });

  it('is incremental: pushing in two batches equals one batch', () => {
    const values = Array.from({ length: 50 }, (_, i) => Math.sin(i));
    const ema = new DebiasedEma(0.8);
    ema.pushAll(values.slice(0, 20));
    ema.pushAll(values, 20);
    assert.deepEqual(ema.output, smooth(values, 0.8));
    assert.throws(() => new DebiasedEma(1), /\[0, 1\)/);
  });
});

describe('min/max decimation', () => {
  const xs = Array.from({ length: 100_000 }, (_, i) => i);
  const ys = xs.map((x) => Math.sin(x / 1000));
  ys[54_321] = 50;
  ys[12_345] = -50;

  it('keeps each bucket extreme, so one-step spikes survive', () => {
    const out = decimateMinMax({ xs, ys: [ys] }, 0, 99_999, 500);
    assert.ok(out.xs.length <= 1002, `${out.xs.length} points`);
    assert.ok((out.ys[0] as number[]).includes(50) && (out.ys[0] as number[]).includes(-50));
    assert.deepEqual(out.xs, [...out.xs].sort((a, b) => a - b), 'x stays ascending');
  });

  it('decimates only the visible window, with one point beyond each edge', () => {
    const out = decimateMinMax({ xs, ys: [ys] }, 50_000, 60_000, 100);
    assert.ok((out.xs[0] as number) >= 49_999 && (out.xs.at(-1) as number) <= 60_001);
    assert.ok((out.ys[0] as number[]).includes(50));
  });

  it('returns short data untouched', () => {
    const data = { xs: [1, 2, 3], ys: [[1, 2, 3]] };
    assert.equal(decimateMinMax(data, 1, 3, 100), data);
  });

  it('aligns runs with different steps on the union of x, with nulls where a run has no point', () => {
    const merged = alignTables([{ xs: [1, 2, 4], ys: [[10, 20, 40]] }, { xs: [2, 3], ys: [[200, 300]] }]);
    assert.deepEqual(merged, { xs: [1, 2, 3, 4], ys: [[10, 20, null, 40], [null, 200, 300, null]] });
  });
});

describe('sample rows', () => {
  const samples = fixtureRun('completed').samples;
  const at = (i: number): SampleRecord => samples[i] as SampleRecord;

  it('computes the policy − BoN gap and the KL contribution from the record', () => {
    const r = at(0);
    const mean = r.policy.reduce((s, p) => s + p.reward, 0) / r.policy.length;
    assert.equal(gapToBon(r), mean - r.bon.best.reward);
    const kl = r.policy.reduce((s, p) => s + p.logp_policy - p.logp_ref, 0) / r.policy.length;
    assert.ok(Math.abs(klContribution(r) - kl) < 1e-12);
  });

  it('filters by step, prompt and search text, and sorts with a stable tie-break', () => {
    const base = { step: null, promptId: null, filter: 'all', search: '', sort: 'prompt', descending: false } as const;
    assert.equal(selectRows(samples, base).length, samples.length);
    const step = at(0).step;
    assert.ok(selectRows(samples, { ...base, step }).every((r) => r.step === step));
    assert.ok(selectRows(samples, { ...base, promptId: 1 }).every((r) => r.prompt_id === 1));
    assert.deepEqual(selectRows(samples, { ...base, search: at(1).prompt.toUpperCase() }).map((r) => r.prompt), samples.filter((r) => r.prompt === at(1).prompt).map((r) => r.prompt));
    const byKl = selectRows(samples, { ...base, sort: 'kl', descending: true }).map(klContribution);
    assert.deepEqual(byKl, [...byKl].sort((a, b) => b - a));
  });
});

describe('playground', () => {
  it('picks the Best-of-N winner as the trainer does: highest reward, first on a tie', () => {
    assert.equal(bestIndex([1, 3, 3, 2]), 1);
    assert.equal(bestIndex([-1]), 0);
    assert.equal(bestIndex([]), null);
  });
});

describe('webview message contract', () => {
  it('applies appends only in sequence; a gap asks for a snapshot and drops appends until it comes', () => {
    const tracker = new SequenceTracker();
    assert.equal(tracker.accept(1, false), 'skip', 'nothing applies before the first snapshot');
    assert.equal(tracker.accept(5, true), 'apply');
    assert.equal(tracker.accept(6, false), 'apply');
    assert.equal(tracker.accept(8, false), 'gap');
    assert.equal(tracker.accept(9, false), 'skip');
    assert.equal(tracker.accept(10, true), 'apply');
    assert.equal(tracker.accept(11, false), 'apply');
    assert.equal(tracker.accept(11, false), 'gap', 'a duplicate is a gap too');
  });

  it('refuses malformed or unknown webview messages with a reason', () => {
    assert.deepEqual(parseDashboardMessage({ type: 'ready' }), { ok: true, value: { type: 'ready' } });
    assert.match(JSON.stringify(parseDashboardMessage({ type: 'command', command: 'rm -rf', dir: '/x' })), /command must be one of/);
    assert.match(JSON.stringify(parseDashboardMessage({ type: 'exportCsv', fileName: '../../etc/passwd.csv', content: '' })), /plain name/);
    assert.match(JSON.stringify(parseDashboardMessage({ type: 'exportPng', fileName: 'a.png', dataUrl: 'data:text/html,<script>' })), /data:image\/png/);
    assert.match(JSON.stringify(parseDashboardMessage('ready')), /must be an object/);
    assert.match(JSON.stringify(parseSamplesMessage({ type: 'focus', key: { step: -1, promptId: 0 }, order: [] })), /non-negative integers/);
    assert.match(JSON.stringify(parseInspectorMessage({ type: 'navigate', delta: 5 })), /delta must be 1 or -1/);
    assert.match(JSON.stringify(parseInspectorMessage({ type: 'eval' })), /unknown message type/);
    const request = { dir: '/r', step: 10, prompt: 'hi', n: 8, k: 2, temperature: 1, maxTokens: 40, seed: 3 };
    assert.deepEqual(parsePlaygroundMessage({ type: 'generate', request }), { ok: true, value: { type: 'generate', request } });
    assert.match(JSON.stringify(parsePlaygroundMessage({ type: 'generate', request: { ...request, n: 10_000 } })), /request.n must be an integer in \[1, 64\]/);
    assert.match(JSON.stringify(parsePlaygroundMessage({ type: 'generate', request: { ...request, temperature: Number.NaN } })), /temperature/);
    assert.match(JSON.stringify(parsePlaygroundMessage({ type: 'generate', request: { ...request, prompt: 'x'.repeat(20_000) } })), /at most 10000/);
    assert.match(JSON.stringify(parseInspectorMessage({ type: 'generate', request })), /unknown message type/, 'the side panel only launches the playground');
    assert.deepEqual(parseInspectorMessage({ type: 'openPlayground', prompt: null }), { ok: true, value: { type: 'openPlayground', prompt: null } });
    assert.match(JSON.stringify(parseInspectorMessage({ type: 'openPlayground', prompt: 'x'.repeat(20_000) })), /at most 10000/);
    assert.match(JSON.stringify(parseDashboardMessage({ type: 'openSamplesAt', dir: '/r', step: 2.5 })), /whole number/);
    assert.match(JSON.stringify(parseSamplesMessage({ type: 'stepShown', step: -1 })), /whole number/);
    assert.deepEqual(parseSamplesMessage({ type: 'stepShown', step: null }), { ok: true, value: { type: 'stepShown', step: null } });
  });

  it('revives saved state only when it names runs, with safe defaults for the rest', () => {
    assert.equal(parseDashboardState({ dirs: [] }), undefined);
    assert.deepEqual(parseDashboardState({ dirs: ['/r'], smoothing: 7, xAxis: 'bogus', exportBackground: 'neon', ignoreOutliers: 'yes', logCharts: 'loss' }),
      { dirs: ['/r'], xAxis: 'step', smoothing: 0.6, hidden: [], exportBackground: 'light', ignoreOutliers: false, logCharts: [] });
    assert.deepEqual(parseDashboardState({ dirs: ['/r'], exportBackground: 'theme', ignoreOutliers: true, logCharts: ['loss'] }),
      { dirs: ['/r'], xAxis: 'step', smoothing: 0.6, hidden: [], exportBackground: 'theme', ignoreOutliers: true, logCharts: ['loss'] });
    assert.equal(parseSamplesState({ step: 3 }), undefined);
    assert.equal(parseSamplesState({ dir: '/r', sort: 'evil' })?.sort, 'prompt');
    const good = { request: { dir: '/r', step: 10, prompt: 'hi', n: 8, k: 2, temperature: 1, maxTokens: 40, seed: 3 }, runName: 'r', policyMean: 1, bestReward: null, at: 5 };
    const revived = parsePlaygroundState({ form: { n: 'many', prompt: 'p', dir: '' }, history: [good, { ...good, request: { ...good.request, n: 0 } }, 'junk'] });
    assert.deepEqual(revived.form, { dir: null, step: null, prompt: 'p', n: 8, k: 2, temperature: 1, maxTokens: 40, seed: 0 });
    assert.deepEqual(revived.history, [good], 'only valid tries come back');
  });

  it('builds pages whose CSP allows only nonce scripts and the extension\'s own resources', () => {
    const csp = contentSecurityPolicy('https://res.example', 'abc');
    assert.match(csp, /^default-src 'none'/);
    assert.match(csp, /script-src 'nonce-abc'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    const html = renderWebviewHtml({ name: 'dashboard', title: '<x>', cspSource: 'https://res.example', scriptUri: 'https://res.example/a.js', styleUris: [], nonce: 'abc' });
    assert.match(html, /<script nonce="abc" src="https:\/\/res.example\/a.js">/);
    assert.match(html, /<title>&lt;x&gt;<\/title>/);
  });
});

it('Compare Runs: flattened configs and the fields that differ', async () => {
  const { flattenConfig } = await import('../../src/core/webviewModels');
  const { differingFields } = await import('../../webview/dashboard/compare');
  const a = flattenConfig({ bond: { n: 4, ema_eta: 0.02 }, reward: [{ type: 'sentiment' }], name: 'a' });
  assert.deepEqual(a, { 'bond.n': '4', 'bond.ema_eta': '0.02', reward: '[{"type":"sentiment"}]', name: '"a"' });
  const b = flattenConfig({ bond: { n: 4, ema_eta: 0.1 }, reward: [{ type: 'sentiment' }], name: 'b', logging: { tensorboard: true } });
  assert.deepEqual(differingFields([a, b]), ['bond.ema_eta', 'logging.tensorboard'], 'the run\'s name is its label, not a difference');
  assert.deepEqual(differingFields([a, a]), []);
});

describe('chart scales', () => {
  it('nice ticks are round steps inside the range', async () => {
    const { niceTicks } = await import('../../webview/shared/series');
    assert.deepEqual(niceTicks(-0.03, 0.42, 4), [0, 0.2, 0.4]);
    assert.deepEqual(niceTicks(-0.03, 0.42, 8), [0, 0.1, 0.2, 0.3, 0.4]);
    assert.deepEqual(niceTicks(0, 1.835, 4), [0, 0.5, 1, 1.5]);
    assert.deepEqual(niceTicks(-120, 460, 5), [0, 200, 400]);
    assert.deepEqual(niceTicks(-120, 460, 10), [-100, 0, 100, 200, 300, 400]);
    assert.deepEqual(niceTicks(2, 2), [2]);
  });

  it('ignoring outliers keeps the bulk of the values in view, a spike out of it', async () => {
    const { robustRange } = await import('../../webview/shared/series');
    const bulk = Array.from({ length: 200 }, (_, i) => Math.sin(i / 10));
    const [lo, hi] = robustRange([[...bulk, 1000], [null, Number.NaN]])!;
    assert.ok(hi < 2 && lo > -2, `the spike at 1000 is out of the range: ${lo}, ${hi}`);
    assert.ok(hi >= 0.99 && lo <= -0.99, 'the bulk is in it');
    assert.deepEqual(robustRange([[1, 2, 3]]), [0.9, 3.1], 'few values: the plain extent, padded');
    assert.equal(robustRange([[null]]), null);
  });
});
