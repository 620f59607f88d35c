/**
 * More of the extension in a real VS Code (code-server + headless Chromium), on one editor:
 * Check Environment, Problems from a broken config, Stop from the runs view and Resume, and a
 * window reload during a run.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { RunMeta } from '../../contracts/run-directory';
import { ROOT, waitFor } from '../helpers';
import { launchEditor, scenario as runScenario, type Editor } from './harness';

let editor: Editor;

before(async () => {
  editor = await launchEditor(join(ROOT, 'test', 'e2e', 'workspace'));
});

after(async () => {
  await editor?.close();
});

const scenario = (name: string, t: { diagnostic(message: string): void }, body: () => Promise<void>) => runScenario(editor, name, t, body);
const openFile = (name: string) => editor.openFile(name);

function runDirs(prefix: string): string[] {
  const runs = join(editor.workspace, '.bond', 'runs');
  return existsSync(runs) ? readdirSync(runs).filter((d) => d.startsWith(prefix)).map((d) => join(runs, d)) : [];
}

const meta = (dir: string) => JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunMeta;


test('Check Environment reports Python and torch', async (t) => {
  await scenario('check-environment', t, async () => {
    await editor.runCommand('BOND: Check Environment');
    const toast = editor.page.locator('.notifications-toasts .notification-list-item-message', { hasText: 'torch' }).first();
    await toast.waitFor({ timeout: 60_000 });
    const text = await toast.textContent();
    assert.match(text ?? '', /Python 3\.\d+/);
    assert.match(text ?? '', /torch 2\.\d+/);
  });
});

test('broken configs: the Problems panel names the fields as errors, a quick fix renames, and problems survive a reload', async (t) => {
  await scenario('problems-panel', t, async () => {
    const page = editor.page;
    // A misspelt field: VS Code's JSON support, with the schema the extension contributes.
    await openFile('typo.bond.json');
    // A missing prompt file: the trainer's own rules, beyond the schema, as a Diagnostic.
    await openFile('broken.bond.json');
    await editor.runCommand('View: Focus Problems (Errors, Warnings, Infos)');
    const problems = page.locator('.markers-panel');
    await problems.locator('.monaco-list-row', { hasText: 'does not exist (prompts come from a .jsonl' }).first().waitFor({ timeout: 60_000 });
    await problems.locator('.monaco-list-row', { hasText: 'Property betta is not allowed' }).first().waitFor({ timeout: 30_000 });
    // The trainer's own word on the typo, an error with its suggestion, and the quick fix that applies it.
    const typo = problems.locator('.monaco-list-row', { hasText: "bond.betta: unknown field; did you mean 'beta'?" }).first();
    await typo.waitFor({ timeout: 60_000 });
    assert.ok(await typo.locator('.codicon-error').count() > 0, 'the trainer\'s problem is an error');
    await openFile('typo.bond.json');
    await editor.runCommand('Go to Next Problem (Error, Warning, Info)');
    // the trainer's rename is the preferred fix: Auto Fix applies it
    await editor.runCommand('Auto Fix...');
    await page.locator('.monaco-editor .view-lines', { hasText: '"beta": 0.5' }).first().waitFor({ timeout: 30_000 });
    // checked as typed: the unsaved buffer's problem goes away without a save
    await waitFor(async () => ((await problems.locator('.monaco-list-row', { hasText: 'bond.betta' }).count()) === 0 ? true : undefined),
      'the fixed typo to leave the Problems panel', 60_000);
    await editor.runCommand('File: Revert File');
    // A window reload: the problems of the workspace's configs come back without opening them.
    await editor.runCommand('Developer: Reload Window');
    await page.waitForTimeout(2_000);
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    await page.locator('.activitybar [aria-label^="BOND"]').first().waitFor({ timeout: 60_000 });
    await editor.runCommand('View: Focus Problems (Errors, Warnings, Infos)');
    await page.locator('.markers-panel .monaco-list-row', { hasText: 'does not exist (prompts come from a .jsonl' }).first().waitFor({ timeout: 90_000 });
  });
});

test('stop from the runs view → stopped with a checkpoint; resume → it continues', async (t) => {
  await scenario('stop-resume', t, async () => {
    const page = editor.page;
    await openFile('long.bond.json');
    await editor.runCommand('BOND: Start Run');
    const dir = await waitFor(() => runDirs('e2e-long-')[0], 'the long run folder', 30_000);
    await waitFor(() => (existsSync(join(dir, 'run.json')) && meta(dir).step >= 3 ? true : undefined), 'three steps', 60_000);
    // The status bar follows the active run: step of total, reward, ETA.
    await page.locator('.statusbar-item', { hasText: /BOND \d+\/3000 · r -?\d/ }).first().waitFor({ timeout: 30_000 });
    await editor.showRunsView();
    const row = page.locator('.monaco-list-row', { hasText: /e2e-long.*running/ }).first();
    await row.waitFor({ timeout: 30_000 });
    // Its dashboard, opened while it trains, follows it: after each of several updates the plotted x
    // range reaches the newest point within 2 s (it froze at the first range before).
    const tab = page.locator('.tabs-container .tab', { hasText: /BOND(: e2e-long| dashboard)/ }).first();
    await editor.clickUntil(row, tab, (message) => t.diagnostic(message));
    const dashboard = await editor.frameWith('[data-chart="loss"][data-last-x] canvas', 60_000);
    const chart = async () => dashboard.$eval('[data-chart="loss"]', (el) => {
      const d = (el as HTMLElement).dataset;
      return { last: Number(d.lastX), xMin: Number(d.xMin), xMax: Number(d.xMax), zoomed: d.zoomed === 'true' };
    });
    let seen = (await chart()).last;
    const nextUpdate = async (what: string) => {
      const grown = await waitFor(async () => ((await chart()).last > seen ? chart() : undefined), what, 60_000);
      seen = grown.last;
    };
    const follows = async () => dashboard.waitForFunction((s) => Number(document.querySelector<HTMLElement>('[data-chart="loss"]')?.dataset.xMax) >= s, seen, { timeout: 2_000 })
      .catch(async () => assert.fail(`the live chart stopped following: ${JSON.stringify(await chart())}, newest point ${seen}`));
    for (let update = 0; update < 3; update++) {
      await nextUpdate(`update ${update + 1} of the live chart`);
      await follows();
    }
    // A drag zooms: the range holds while the run goes on, and the chart says so; Reset follows again.
    const box = (await (await dashboard.$('[data-chart="loss"] .u-over'))!.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await dashboard.waitForFunction(() => document.querySelector<HTMLElement>('[data-chart="loss"]')?.dataset.zoomed === 'true', undefined, { timeout: 5_000 });
    const zoomed = await chart();
    await nextUpdate('an update while zoomed');
    await page.waitForTimeout(300);
    const held = await chart();
    assert.deepEqual({ ...held, last: 0 }, { ...zoomed, last: 0 }, `the zoom held while the run went on to ${seen}`);
    assert.ok(held.xMax < seen, `zoomed inside the run: ${JSON.stringify(held)}, newest ${seen}`);
    await dashboard.click('[data-chart="loss"] .zoom-badge');
    await follows();
    await nextUpdate('an update after Reset');
    await follows();
    await editor.showRunsView();
    await row.hover();
    await row.locator('.action-label[aria-label="Stop Run"]').click();
    await waitFor(() => (meta(dir).status === 'stopped' ? true : undefined), 'stopped', 60_000);
    const stopped = meta(dir);
    assert.equal(stopped.checkpoints[stopped.checkpoints.length - 1]?.step, stopped.step);
    // The ended run on the wall-time axis: the whole run, from its first point to its last.
    await dashboard.evaluate(() => {
      const select = document.querySelector('vscode-single-select') as HTMLElement & { value: string };
      select.value = 'time';
      select.dispatchEvent(new Event('change'));
    });
    await dashboard.waitForFunction(() => document.querySelector<HTMLElement>('[data-chart="loss"]')?.dataset.xAxis === 'time'
      && document.querySelector<HTMLElement>('[data-chart="loss"]')?.dataset.zoomed === 'false', undefined, { timeout: 10_000 });
    const time = await chart();
    assert.ok(time.last > 0 && time.xMax >= time.last && time.xMin <= 0.5 && time.xMax - time.xMin >= 0.9 * time.last,
      `the wall-time axis spans the run: ${JSON.stringify(time)}`);
    const stoppedRow = page.locator('.monaco-list-row', { hasText: /e2e-long.*stopped/ }).first();
    await stoppedRow.waitFor({ timeout: 30_000 });
    await editor.screenshot('stop-resume-stopped');
    await stoppedRow.hover();
    await stoppedRow.locator('.action-label[aria-label="Resume Run"]').click();
    await waitFor(() => (meta(dir).status === 'running' && meta(dir).step > stopped.step ? true : undefined), 'training again', 60_000);
    assert.equal(meta(dir).resume_count, 1);
    // Leave nothing running: stop it again through the palette.
    await editor.runCommand('BOND: Stop Run');
    await waitFor(() => (meta(dir).status === 'stopped' ? true : undefined), 'stopped again', 60_000);
  });
});

test('reload the window during a run → it keeps training and is reattached', async (t) => {
  await scenario('reload-reattach', t, async () => {
    const page = editor.page;
    await editor.runCommand('BOND: Resume Run');
    const dir = runDirs('e2e-long-')[0]!;
    await waitFor(() => (meta(dir).status === 'running' ? true : undefined), 'running', 60_000);
    const pid = meta(dir).pid;
    await page.reload();
    await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
    await page.locator('.activitybar [aria-label^="BOND"]').first().waitFor({ timeout: 60_000 });
    const before = meta(dir).step;
    await waitFor(() => (meta(dir).step > before + 2 ? true : undefined), 'steps after the reload', 60_000);
    assert.equal(meta(dir).pid, pid, 'the same trainer process kept going');
    await editor.showRunsView();
    await page.locator('.monaco-list-row', { hasText: /e2e-long.*running/ }).first().waitFor({ timeout: 30_000 });
    await editor.runCommand('BOND: Stop Run');
    await waitFor(() => (meta(dir).status === 'stopped' ? true : undefined), 'stopped after the reload', 60_000);
  });
});

test('a sweep: Start Sweep from its CodeLens → its trials train grouped under it in the runs view → Stop Sweep → resume → done', async (t) => {
  await scenario('sweep', t, async () => {
    const page = editor.page;
    const folder = join(editor.workspace, '.bond', 'sweeps', 'e2e-sweep');
    const trials = (): RunMeta[] => (existsSync(join(folder, 'runs'))
      ? readdirSync(join(folder, 'runs')).filter((d) => existsSync(join(folder, 'runs', d, 'run.json'))).map((d) => meta(join(folder, 'runs', d)))
      : []);
    await openFile('e2e.sweep.json');
    await page.locator('.contentWidgets .codelens-decoration a', { hasText: 'Start Sweep' }).first().click({ timeout: 30_000 });
    await editor.showRunsView();
    const group = page.locator('.monaco-list-row', { hasText: /e2e-sweep.*sweep · running/ }).first();
    await group.waitFor({ timeout: 90_000 });
    // both trials train at once (two workers), each listed under the sweep
    await waitFor(() => { const m = trials(); return m.length === 2 && m.every((r) => r.step >= 3) ? true : undefined; }, 'both trials training', 120_000);
    // each trial's run is named for the sweep, the trial and the seed
    await page.locator('.monaco-list-row', { hasText: /e2e-sweep-t000[01]-s1.*running/ }).nth(1).waitFor({ timeout: 30_000 });
    assert.deepEqual(trials().map((r) => r.sweep?.parameters['jbond.beta']).sort(), [0.3, 0.6]);
    // the Sweep view, opened from the sweep's row, follows the trials as they train
    await group.hover();
    await group.locator('.action-label[aria-label="Open Sweep View"]').click();
    const sweepView = await editor.frameWith('.trials-table tr[data-trial="1"]', 60_000);
    const shownStep = async (trial: number): Promise<number> =>
      Number(/s1 (\d+)\/150/.exec(await sweepView.textContent(`.trials-table tr[data-trial="${trial}"]`) ?? '')?.[1] ?? -1);
    const firstShown = await waitFor(async () => { const step = await shownStep(0); return step >= 0 ? step : undefined; }, 'the view shows trial 0 training', 30_000);
    await waitFor(async () => ((await shownStep(0)) > firstShown ? true : undefined), `the view follows trial 0 past step ${firstShown}`, 60_000);
    await waitFor(async () => ((await shownStep(1)) > 0 ? true : undefined), 'the view follows trial 1', 60_000);
    // the stop is said at once; a click lost on a row the list re-rendered under the pointer is tried again
    const stopping = page.locator('.notifications-toasts', { hasText: 'stopping sweep e2e-sweep' }).first();
    for (let attempt = 1; ; attempt++) {
      await group.hover();
      await group.locator('.action-label[aria-label="Stop Sweep"]').click();
      if (await stopping.waitFor({ timeout: 15_000 }).then(() => true, () => false)) break;
      if (attempt >= 3) throw new Error(`Stop Sweep clicked 3 times, no stop:\n${await editor.diagnostics()}`);
      t.diagnostic(`Stop Sweep click ${attempt} did nothing within 15 s: again\n${await editor.diagnostics()}`);
    }
    await waitFor(() => (trials().every((r) => r.status === 'stopped') ? true : undefined), 'the trials stopped with a checkpoint', 90_000);
    const stoppedAt = trials().map((r) => r.step);
    assert.ok(stoppedAt.every((step) => step < 150), `stopped mid-run: ${stoppedAt.join(', ')}`);
    // the sweep's own process ends after its trials: then the row says so and offers to resume
    const stopped = page.locator('.monaco-list-row', { hasText: /e2e-sweep\s*sweep · 2 stopped/ }).first();
    await stopped.waitFor({ timeout: 30_000 });
    await editor.screenshot('sweep-stopped');
    await stopped.hover();
    await stopped.locator('.action-label[aria-label="Start Sweep"]').click();
    await waitFor(() => (trials().every((r) => r.status === 'completed') ? true : undefined), 'the resumed trials to complete', 180_000);
    for (const run of trials()) {
      assert.equal(run.resume_count, 1, 'continued, not started over');
      assert.equal(run.step, 150);
    }
    await page.locator('.monaco-list-row', { hasText: /e2e-sweep.*sweep · 2 done/ }).first().waitFor({ timeout: 60_000 });
    // the Sweep view followed to the end: both configurations done, plotted solid, the best named
    const done = await editor.frameWith('.trials-table tr[data-trial="1"][data-state="complete"]', 60_000);
    assert.equal(await done.locator('.trials-table tr[data-state="complete"]').count(), 2);
    const plotted = JSON.parse(await done.getAttribute('[data-chart="sweep-scatter"]', 'data-points') ?? '[]') as { trial: number; provisional: boolean }[];
    assert.deepEqual(plotted.map((p) => [p.trial, p.provisional]).sort(), [[0, false], [1, false]]);
    await done.locator('.best-row[data-metric="eval/reward/policy"]').waitFor({ timeout: 30_000 });
    await editor.screenshot('sweep-view');
    // the experiments table lists every run, the sweep's trials under their sweep, jbond.beta a column
    await editor.runCommand('BOND: Open Experiments Table');
    const table = await editor.frameWith('.exp-group[data-sweep="e2e-sweep"]', 60_000);
    assert.match(await table.textContent('.exp-group[data-sweep="e2e-sweep"]') ?? '', /2 runs · 2 done/);
    await table.locator('.exp-head [data-column="config:jbond.beta"]').waitFor({ timeout: 10_000 });
    assert.ok(await table.locator('.exp-row[data-dir*="e2e-sweep-t0001-s1"]').count() === 1);
    await editor.screenshot('experiments-table');
  });
});
