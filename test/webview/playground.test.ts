/** The playground editor tab in headless Chromium: the form, a try's columns (π_ref's, policy, anchor, Best-of-N), the history. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PlaygroundResult, PlaygroundRun } from '../../contracts/webviews/playground';
import { waitFor } from '../helpers';
import { ARTIFACTS, cspViolations, startHarness, type Harness } from './harness';

const HOSTILE = [
  '<script>window.__canary = "script"</script>',
  '<img src=x onerror="window.__canary = \'img\'">',
  '</textarea><svg onload="window.__canary = \'svg\'">',
];
const RUNS: PlaygroundRun[] = [
  { dir: '/runs/a', name: 'jbond-demo', steps: [150, 100, 50], checkpointSteps: [], canExport: true, rewardNote: null, rewardModel: null, exportNote: null, status: 'completed', bonN: 8 },
  { dir: '/runs/b', name: 'python-reward', steps: [], checkpointSteps: [40], canExport: true, rewardNote: 'reward.function is Python code', rewardModel: null, exportNote: null, status: 'completed', bonN: 8 },
];
const text = (t: string, reward: number) => ({ text: t, reward, truncated: false });

describe('playground webview', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness();
  });
  after(async () => harness?.close());

  it('posts a validated request, shows progress, ranks all N candidates with the winner marked beside π_ref\'s, the policy\'s and the anchor\'s samples, cancels', async () => {
    const view = await harness.open('playground', { theme: 'dark' });
    await view.send({ type: 'runs', seq: 1, runs: RUNS });
    await view.page.locator('vscode-textarea[aria-label="prompt"] textarea').fill('the soup was');
    await view.page.click('vscode-button:text("Generate")');
    const generate = await view.waitForPosted('generate');
    const request = { dir: '/runs/a', step: 150, prompt: 'the soup was', n: 8, k: 2, temperature: 1, maxTokens: 40, seed: 0 };
    assert.deepEqual(generate.request, request);
    await view.send({ type: 'progress', seq: 2, phase: 'anchor', done: 7, total: 40 });
    assert.match(await view.page.textContent('.playground-status') ?? '', /anchor: token 7 of 40/);
    await view.page.click('vscode-button:text("Cancel")');
    await waitFor(async () => (await view.posted()).some((m) => m.type === 'cancelGenerate') || undefined, 'cancelGenerate');
    const result: PlaygroundResult = {
      request: { ...request, n: 4 }, runName: 'jbond-demo', step: 150, prompt: 'the soup was',
      policy: [text(HOSTILE[0] as string, 1), text('great', 2)], anchor: [text(HOSTILE[1] as string, 0), text('meh', -1)],
      candidates: [text('bad', -1), text(HOSTILE[2] as string, 3), text('good', 3), text('fine', 0.5)], winner: 1, tokensPerSecond: 900, rewardNote: null,
      reference: [text('plain', -0.5), text(`ref ${HOSTILE[0] as string}`, 0.25)], referenceNote: null,
    };
    await view.send({ type: 'result', seq: 3, result });
    await view.page.waitForSelector('.playground-results [data-winner="true"]');
    const results = await view.page.textContent('.playground-results') ?? '';
    for (const payload of HOSTILE) assert.ok(results.includes(payload), 'hostile text not shown literally');
    assert.match(results, /policy mean reward 1\.500 vs Best-of-4 3\.000 \(gap 1\.500\)/);
    // π_ref, policy, anchor, Best-of-N; each ranked by reward, highest first, ties by draw order; the winner marked
    const columns = () => view.page.$$eval('.playground-column', (cols) => cols.map((c) => (c as HTMLElement).dataset.column));
    assert.deepEqual(await columns(), ['reference', 'policy', 'anchor', 'bon']);
    const order = (column: string) => view.page.$$eval(`[data-column="${column}"] .playground-sample`, (rows) => rows.map((r) => Number((r as HTMLElement).dataset.index)));
    assert.deepEqual(await order('bon'), [1, 2, 3, 0]);
    assert.deepEqual(await order('policy'), [1, 0]);
    assert.deepEqual(await order('reference'), [1, 0]);
    assert.match(await view.page.textContent('[data-column="reference"]') ?? '', /Reference \(π_ref\)2 samples, ranked by reward · mean −0\.125 · where training started/);
    assert.match(await view.page.textContent('[data-winner="true"]') ?? '', /1\. #1 · reward 3\.000 · ★ Best-of-N pick/);
    assert.equal(await view.page.$$eval('[data-winner="true"]', (n) => n.length), 1);
    assert.equal(await view.page.$$eval('.playground-results img, .playground-results script, .playground-results svg', (n) => n.length), 0);
    assert.equal(await view.page.evaluate(() => (window as unknown as { __canary?: unknown }).__canary), undefined);
    assert.deepEqual(await cspViolations(view.page), []);
    assert.deepEqual(view.problems(), []);
    await view.page.screenshot({ path: join(ARTIFACTS, 'playground-dark.png'), fullPage: true });
    // A step without π_ref's export: no reference column, and the note says why.
    await view.send({ type: 'result', seq: 4, result: { ...result, reference: null, referenceNote: 'π_ref was not exported with step 150; export this step again to add it.' } });
    await view.page.waitForFunction(() => document.querySelector('.reference-note')?.textContent?.includes('π_ref was not exported') === true);
    assert.deepEqual(await columns(), ['policy', 'anchor', 'bon']);
    await view.page.close();
  });

  it('keeps a history of tries that re-runs one at another step and survives a reload', async () => {
    const view = await harness.open('playground');
    await view.send({ type: 'runs', seq: 1, runs: RUNS });
    const request = { dir: '/runs/a', step: 150, prompt: 'the pasta was', n: 3, k: 1, temperature: 0.7, maxTokens: 20, seed: 9 };
    await view.send({ type: 'result', seq: 2, result: {
      request, runName: 'jbond-demo', step: 150, prompt: request.prompt, policy: [text('ok', 0.25)], anchor: [text('meh', 0)],
      candidates: [text('a', 0), text('b', 1), text('c', 0.5)], winner: 1, tokensPerSecond: 500, rewardNote: null, reference: null, referenceNote: null,
    } });
    await view.page.waitForSelector('.history-row');
    assert.match(await view.page.textContent('.history-row') ?? '', /jbond-demo · step 150 · N 3 · K 1 · T 0\.7 · seed 9/);
    assert.match(await view.page.textContent('.history-row') ?? '', /policy 0\.250 · Best-of-3 1\.000/);
    // Run again at step 50: the same request, another step.
    await view.page.evaluate(() => {
      const select = document.querySelector('.history-row vscode-single-select') as HTMLElement & { value: string };
      select.value = '50';
    });
    await view.page.click('.history-row vscode-button:text("Run again")');
    await waitFor(async () => (await view.posted()).find((m) => m.type === 'generate'), 'a generate from the history');
    const again = (await view.posted()).filter((m) => m.type === 'generate');
    assert.deepEqual(again.map((m) => m.request), [{ ...request, step: 50 }]);
    assert.equal(await view.page.getAttribute('.history-row vscode-button:text("Run again")', 'disabled'), '', 'no second try while one runs');
    // The history is saved state: a reloaded tab shows it (without the texts, which stay in memory).
    const saved = await view.state();
    await view.page.close();
    const reloaded = await harness.open('playground', { state: saved });
    await reloaded.send({ type: 'runs', seq: 1, runs: RUNS });
    await reloaded.page.waitForSelector('.history-row');
    assert.match(await reloaded.page.textContent('.history-row') ?? '', /the pasta was/);
    assert.equal(await reloaded.page.isHidden('.history-row vscode-button:text("Show")'), true);
    await reloaded.page.click('.history-row vscode-button:text("Edit in form")');
    assert.equal(await reloaded.page.locator('vscode-textarea[aria-label="prompt"] textarea').inputValue(), 'the pasta was');
    await reloaded.page.close();
  });

  it('defaults to the newest completed run with its Best-of-N; an export selects the exported step of that run', async () => {
    const view = await harness.open('playground', { theme: 'dark' });
    const stopped = { ...RUNS[0]!, dir: '/runs/s', name: 'newer but stopped', status: 'stopped', steps: [10], bonN: 4 };
    const done = { ...RUNS[0]!, dir: '/runs/d', name: 'demo-jbond · 12-01 09:48:03', bonN: 16, steps: [100], checkpointSteps: [150] };
    await view.send({ type: 'runs', seq: 1, runs: [stopped, done] });
    const form = async () => view.page.evaluate(() => ({
      run: (document.querySelector('vscode-single-select[aria-label="run"]') as HTMLElement & { value: string }).value,
      step: (document.querySelector('vscode-single-select[aria-label="step"]') as HTMLElement & { value: string } | null)?.value,
      n: (document.querySelector('[data-field="n"]') as HTMLElement & { value: string }).value,
      options: [...document.querySelectorAll('vscode-single-select[aria-label="run"] vscode-option')].map((o) => o.textContent),
    }));
    await waitFor(async () => ((await form()).run === '/runs/d' ? true : undefined), 'the completed run chosen');
    assert.equal((await form()).n, '16', "N defaults to the run's Best-of-N");
    // the export of step 150 finishes: the host sends the new steps, then selects the exported one
    await view.send({ type: 'runs', seq: 2, runs: [stopped, { ...done, steps: [150, 100], checkpointSteps: [] }] });
    await view.send({ type: 'prefill', seq: 3, dir: '/runs/d', prompt: null, step: 150 });
    await waitFor(async () => ((await form()).step === '150' ? true : undefined), 'the exported step selected');
    const after = await form();
    assert.ok(after.options.every((o) => !/demo-jbond.*not exported/.test(o ?? '')), JSON.stringify(after.options));
    assert.ok(after.options.includes('newer but stopped'));
    await view.page.close();
  });

  it('fills the form from the launcher or a run, and says plainly why a run cannot be tried', async () => {
    const view = await harness.open('playground', { theme: 'light' });
    const why = 'Step 40 could not be exported for the playground (policy: torch.onnx could not export this mamba model: <b>Unsupported</b>)';
    await view.send({ type: 'runs', seq: 1, runs: [...RUNS, { dir: '/runs/c', name: 'hf-run', steps: [], checkpointSteps: [40, 20], canExport: true, rewardNote: null, rewardModel: null, exportNote: why, status: 'completed', bonN: 8 }] });
    await view.send({ type: 'prefill', seq: 2, dir: '/runs/c', prompt: 'from the launcher' });
    await view.page.waitForFunction((t) => document.querySelector('.playground-status')?.textContent?.startsWith(t) ?? false, why);
    assert.match(await view.page.textContent('.playground-status') ?? '', /export a checkpoint to try prompts/);
    assert.equal(await view.page.$$eval('.playground-status b', (n) => n.length), 0);
    assert.equal(await view.page.getAttribute('vscode-button:text("Generate")', 'disabled'), '');
    assert.equal(await view.page.locator('vscode-textarea[aria-label="prompt"] textarea').inputValue(), 'from the launcher');
    await view.page.click('vscode-button:text("Export checkpoint")');
    const exported = await view.waitForPosted('exportModels');
    assert.deepEqual([exported.dir, exported.step], ['/runs/c', 40], 'the newest checkpoint not yet exported, by default');
    await view.page.close();
  });
});
