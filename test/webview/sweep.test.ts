/**
 * The Sweep view in headless Chromium: each configuration at its mean over the seeds with error bars
 * (std, then the 95% interval), Optuna's Pareto front ringed and marked in the table, the Best-of-N
 * diamond, parallel coordinates and importance — and all of it following a live sweep over several
 * snapshots, as the trainer rewrites analysis.json and the trials' runs step.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SweepConfiguration, SweepSeedRun, SweepView } from '../../contracts/webviews/sweep';
import { waitFor } from '../helpers';
import { ARTIFACTS, cspViolations, startHarness, type Harness, type WebviewPage } from './harness';

const HOSTILE = '<img src=x onerror="window.__canary = 1">';

function seed(trial: number, seed: number, reward: number | null, kl: number | null, status = 'completed', step = 150): SweepSeedRun {
  return {
    seed, dir: `/sweeps/paper/runs/paper-t${String(trial).padStart(4, '0')}-s${seed}`, status, step, totalSteps: 150,
    evaluation: reward === null || kl === null ? null : {
      step, 'eval/reward/policy': reward, 'eval/kl/policy_ref': kl, 'eval/reward/bon': 2.2 + seed * 0.1, 'eval/kl/bon_bound': 1.2044,
    },
  };
}

function configuration(number: number, params: Record<string, string>, seeds: SweepSeedRun[], state = 'complete'): SweepConfiguration {
  const mean = (key: string): number => seeds.reduce((s, r) => s + (r.evaluation?.[key] ?? 0), 0) / seeds.length;
  return { number, state, params, values: state === 'complete' ? [mean('eval/reward/policy'), mean('eval/kl/policy_ref')] : null,
    feasible: null, seeds, error: null };
}

function sweepView(trials: SweepConfiguration[], extra: Partial<SweepView> = {}): SweepView {
  return {
    folder: '/sweeps/paper', name: 'paper', status: 'running', active: true, method: 'grid',
    objectives: [{ metric: 'eval/reward/policy', goal: 'maximize' }, { metric: 'eval/kl/policy_ref', goal: 'minimize' }],
    parameters: ['algorithm', 'anchor.ema_eta', 'reinforce.beta'], seeds: [1, 2, 3], maxTrials: 4, trials,
    paretoFront: [], best: [], importance: null, importanceNote: 'needs 3 completed configurations whose parameters vary (1 completed so far)',
    analysedAt: 1, notes: [], ...extra,
  };
}

interface Drawn { trial: number; x: number; y: number; xBar: number | null; yBar: number | null; n: number; front: boolean; provisional: boolean; px: number; py: number }

const points = async (view: WebviewPage): Promise<Drawn[]> =>
  JSON.parse(await view.page.getAttribute('[data-chart="sweep-scatter"]', 'data-points') ?? '[]') as Drawn[];
const updates = async (view: WebviewPage): Promise<number> => Number(await view.page.getAttribute('body', 'data-updates') ?? '0');
const std = (values: number[]): number => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1));
};

describe('sweep webview', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness();
  });
  after(async () => harness?.close());

  it('follows a live sweep: means with error bars, Optuna’s front, Best-of-N, parallel coordinates and importance, update after update', async () => {
    const view = await harness.open('sweep', { theme: 'dark', width: 1100 });
    const jbond = { algorithm: '"jbond"', 'anchor.ema_eta': '0.01' };
    const jbond2 = { algorithm: '"jbond"', 'anchor.ema_eta': '0.05' };
    const reinforce = { algorithm: '"reinforce"', 'reinforce.beta': HOSTILE };
    // 1: one configuration done, one training (its first seed's evaluation so far), nothing else yet
    const first = [
      configuration(0, jbond, [seed(0, 1, 1.0, 1.1), seed(0, 2, 1.2, 1.2), seed(0, 3, 1.1, 1.3)]),
      configuration(1, jbond2, [seed(1, 1, 1.8, 3.0, 'running', 100), seed(1, 2, null, null, 'running', 20)], 'running'),
    ];
    await view.send({ type: 'snapshot', seq: 1, sweep: sweepView(first) });
    await waitFor(async () => (await points(view)).length === 2 || undefined, 'two configurations plotted');
    let drawn = await points(view);
    const done = drawn.find((p) => p.trial === 0)!;
    assert.ok(Math.abs(done.y - 1.1) < 1e-9 && Math.abs(done.x - 1.2) < 1e-9, JSON.stringify(done));
    assert.ok(Math.abs(done.yBar! - std([1.0, 1.2, 1.1])) < 1e-9, 'the y bar is the seeds’ standard deviation');
    assert.ok(Math.abs(done.xBar! - std([1.1, 1.2, 1.3])) < 1e-9);
    assert.equal(done.n, 3);
    const training = drawn.find((p) => p.trial === 1)!;
    assert.equal(training.provisional, true, 'a training configuration is drawn hollow at its latest evaluation');
    assert.equal(training.n, 1);
    assert.equal(training.yBar, null, 'one seed so far: no bar');
    assert.match(await view.page.textContent('[data-trial="1"]') ?? '', /running[\s\S]*0\/3 · s1 100\/150, s2 20\/150/);
    assert.match(await view.page.textContent('.sweep-importance') ?? '', /No importance yet: needs 3 completed/);
    const bon = JSON.parse(await view.page.getAttribute('[data-chart="sweep-scatter"]', 'data-bon') ?? '[]') as { x: number; y: number; n: number }[];
    assert.equal(bon.length, 1);
    assert.ok(Math.abs(bon[0]!.x - 1.2044) < 1e-9 && bon[0]!.n === 4, JSON.stringify(bon));

    // 2: the analysis is rewritten — trial 1 done, trial 2 (REINFORCE) done, Optuna's front and importance
    const second = [
      first[0]!,
      configuration(1, jbond2, [seed(1, 1, 1.8, 3.0), seed(1, 2, 2.0, 3.2), seed(1, 3, 1.9, 3.1)]),
      configuration(2, reinforce, [seed(2, 1, 0.9, 1.4), seed(2, 2, 1.0, 1.5), seed(2, 3, 0.8, 1.3)]),
      configuration(3, reinforce, [seed(3, 1, 2.5, 8.0, 'running', 60)], 'running'),
    ];
    const before = await updates(view);
    await view.send({ type: 'snapshot', seq: 2, sweep: sweepView(second, {
      paretoFront: [0, 1], best: [{ metric: 'eval/reward/policy', goal: 'maximize', trial: 1 }, { metric: 'eval/kl/policy_ref', goal: 'minimize', trial: 0 }],
      importance: { 'eval/reward/policy': { 'anchor.ema_eta': 0.7, algorithm: 0.3 } }, importanceNote: 'Optuna’s PED-ANOVA: …',
    }) });
    await waitFor(async () => (await points(view)).length === 4 || undefined, 'four configurations plotted');
    assert.ok((await updates(view)) > before);
    drawn = await points(view);
    assert.deepEqual(drawn.filter((p) => p.front).map((p) => p.trial).sort(), [0, 1], 'Optuna’s front is ringed');
    assert.equal(drawn.find((p) => p.trial === 1)!.provisional, false, 'a finished configuration is drawn solid');
    assert.deepEqual(await view.page.$$eval('.trials-table tr[data-front]', (rows) => rows.map((r) => (r as HTMLElement).dataset.trial)), ['0', '1']);
    assert.match(await view.page.textContent('.best-row[data-metric="eval/reward/policy"]') ?? '', /highest eval\/reward\/policy: trial 1 \(algorithm=jbond, anchor\.ema_eta=0\.05\) 1\.900 ± 0\.100/);
    // parallel coordinates: the finished configurations across the fields that vary and the objectives
    const lines = JSON.parse(await view.page.getAttribute('[data-chart="parallel"]', 'data-lines') ?? '[]') as { trial: number; at: (number | null)[] }[];
    assert.deepEqual(lines.map((l) => l.trial), [0, 1, 2]);
    const axes = JSON.parse(await view.page.getAttribute('[data-chart="parallel"]', 'data-axes') ?? '[]') as string[];
    assert.deepEqual(axes, ['algorithm', 'anchor.ema_eta', 'reinforce.beta', 'eval/reward/policy (↑ better)', 'eval/kl/policy_ref (↓ better)']);
    assert.equal(lines.find((l) => l.trial === 1)!.at[3], 1, 'the best reward sits at the top of its axis');
    assert.equal(lines.find((l) => l.trial === 0)!.at[4], 1, 'the lowest KL sits at the top of its (minimised) axis');
    assert.deepEqual(await view.page.$$eval('.importance-row', (rows) => rows.map((r) => (r as HTMLElement).dataset.field)), ['anchor.ema_eta', 'algorithm']);
    // a hostile value is text
    assert.ok((await view.page.textContent('.trials-table') ?? '').includes(HOSTILE.replace(/^"|"$/g, '')));
    assert.equal(await view.page.$$eval('.sweep img', (n) => n.length), 0);
    assert.equal(await view.page.evaluate(() => (window as unknown as { __canary?: unknown }).__canary), undefined);

    // error bars as the 95% interval of the mean: t(2) · std / √3, said in the legend; kept across a reload
    await view.page.selectOption('select[aria-label="error bars"]', 'ci95');
    await waitFor(async () => (await view.page.getAttribute('[data-chart="sweep-scatter"]', 'data-error-bars')) === 'ci95' || undefined, 'ci95 bars');
    const ci = (await points(view)).find((p) => p.trial === 0)!;
    assert.ok(Math.abs(ci.yBar! - (4.303 * std([1.0, 1.2, 1.1])) / Math.sqrt(3)) < 1e-9, JSON.stringify(ci));
    assert.match(await view.page.textContent('[data-chart="sweep-scatter"]') ?? '', /95% confidence interval of the mean \(Student’s t\)/);
    assert.equal((await view.state() as { errorBars: string }).errorBars, 'ci95');

    // KL spans decades across β: a log x axis spreads the low-KL configurations apart
    const linear = await points(view);
    await view.page.check('input[aria-label="log x"]');
    await waitFor(async () => (await view.page.getAttribute('[data-chart="sweep-scatter"]', 'data-log-x')) === 'true' || undefined, 'log x');
    const logged = await points(view);
    const gap = (drawn: Drawn[]): number => drawn.find((p) => p.trial === 2)!.px - drawn.find((p) => p.trial === 0)!.px;
    assert.ok(gap(logged) > gap(linear), `KL 1.2 and 1.4 lie further apart on a log axis: ${gap(logged)} vs ${gap(linear)} px`);
    assert.equal((await view.state() as { logX: boolean }).logX, true);
    // a click on a configuration opens its seeds' dashboard
    const target = (await points(view)).find((p) => p.trial === 2)!;
    await view.page.locator('[data-chart="sweep-scatter"] canvas').click({ position: { x: target.px, y: target.py } });
    const opened = await view.waitForPosted('openRuns');
    assert.deepEqual(opened.dirs, second[2]!.seeds.map((s) => s.dir));
    // Stop while it runs
    await view.page.click('.sweep-header vscode-button:text("Stop")');
    assert.deepEqual(await view.waitForPosted('command'), { type: 'command', command: 'stop' });

    // 3: the sweep ended: no Stop; the last configuration done
    const third = [...second.slice(0, 3), configuration(3, reinforce, [seed(3, 1, 2.5, 8.0), seed(3, 2, 2.7, 8.4), seed(3, 3, 2.6, 8.2)])];
    await view.send({ type: 'snapshot', seq: 3, sweep: sweepView(third, { status: 'completed', active: false, paretoFront: [0, 1, 3] }) });
    await waitFor(async () => (await points(view)).filter((p) => p.front).length === 3 || undefined, 'the front follows the new analysis');
    assert.equal(await view.page.locator('.sweep-header vscode-button:text("Stop")').count(), 0);
    assert.match(await view.page.textContent('.sweep-header') ?? '', /4 of 4 configuration\(s\) × 3 seed\(s\): 4 done/);
    assert.deepEqual(await cspViolations(view.page), []);
    assert.deepEqual(view.problems(), []);
    await view.page.screenshot({ path: join(ARTIFACTS, 'sweep-dark.png'), fullPage: true });
  });

  it('says what it could not read instead of going blank', async () => {
    const view = await harness.open('sweep', { theme: 'light' });
    await view.send({ type: 'snapshot', seq: 1, sweep: sweepView([], { notes: ['analysis.json is not written yet (…)'] }) });
    await view.page.waitForSelector('.sweep-notes .note');
    assert.match(await view.page.textContent('.sweep-notes') ?? '', /analysis\.json is not written yet/);
    assert.match(await view.page.textContent('.empty-state') ?? '', /No configuration has started yet/);
    assert.match(await view.page.textContent('.sweep-best') ?? '', /appears once one has finished/);
    assert.deepEqual(view.problems(), []);
  });
});
