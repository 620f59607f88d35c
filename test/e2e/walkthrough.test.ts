/**
 * A new user's path in a real VS Code, from an empty folder, on what the product installs itself:
 * no interpreter is given, so Check Environment offers Set Up a Venv, which makes the extension's own
 * venv (torch, onnx); then Create Demo Workspace (the demo's reference pretrained here), the demo run
 * from its CodeLens, its dashboard, its samples, the playground tab (export and generate on that
 * venv), and the demo's second config. Each walkthrough step must complete on its real event.
 * The README's screenshots are taken here, from this real demo run (docs/screenshots/demo-*.png).
 */
import { strict as assert } from 'node:assert';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { RunMeta } from '../../contracts/run-directory';
import { ROOT, tempDir, waitFor, waitForProgress } from '../helpers';
import { launchEditor, scenario, type Editor } from './harness';

let editor: Editor;
const README_SHOTS = join(ROOT, 'docs', 'screenshots');
const STEPS = ['environment', 'demoWorkspace', 'runStarted', 'dashboard', 'samples', 'playground'];

before(async () => {
  editor = await launchEditor(tempDir('bond-e2e-empty-'), { productPython: true });
});

after(async () => {
  await editor?.close();
});

/** The walkthrough's steps that VS Code shows as done. */
async function checkedSteps(): Promise<string[]> {
  const ids = await editor.page.$$eval('button.getting-started-step[aria-checked="true"]', (steps) => steps.map((s) => s.getAttribute('data-step-id') ?? ''));
  return STEPS.filter((step) => ids.some((id) => id.endsWith(`bond.${step}`)));
}

/** Where the helpers below say what they retried: the running test's output. */
let report: ((message: string) => void) | undefined;

async function openWalkthrough(): Promise<void> {
  await editor.answerQuickPick('Welcome: Open Walkthrough...', ['Get started with BOND Studio'], report);
  await editor.page.locator('button.getting-started-step[data-step-id$="bond.environment"]').waitFor({ timeout: 30_000 });
}

async function waitForStep(step: string, timeoutMs = 30_000): Promise<void> {
  await openWalkthrough();
  await waitFor(async () => (await checkedSteps()).includes(step) || undefined, `the walkthrough step ${step} to complete`, timeoutMs);
}

/**
 * Bring a tab to the front and take a screenshot of the whole window for the README, kept in
 * docs/screenshots/ as well as test-results. A webview tab that was hidden reloads its page, so the
 * shot waits for `ready` to show in it.
 */
async function readmeShot(name: string, tab: string, ready: string): Promise<void> {
  await editor.page.locator('.tab', { hasText: tab }).first().click();
  await editor.frameWith(ready, 60_000);
  await editor.page.waitForTimeout(1_500);
  const path = await editor.screenshot(name);
  mkdirSync(README_SHOTS, { recursive: true });
  copyFileSync(path, join(README_SHOTS, `${name}.png`));
}

test('walkthrough: every step completes on its real event, from an empty folder to a playground try on the demo run', async (t) => {
  report = (message) => t.diagnostic(message);
  await scenario(editor, 'walkthrough-done', t, async () => {
    const page = editor.page;
    await openWalkthrough();
    assert.deepEqual(await checkedSteps(), [], 'nothing is done in a new profile');
    // Clicking a step's text does not complete it: only the event does.
    await page.locator('button.getting-started-step[data-step-id$="bond.demoWorkspace"]').click();
    await page.waitForTimeout(500);
    assert.deepEqual(await checkedSteps(), []);

    // No Python for the trainer yet: the product offers to make one, and makes it.
    await editor.runCommand('BOND: Check Environment');
    const offer = page.locator('.notifications-toasts .notification-list-item', { hasText: 'BOND needs a Python' }).first();
    await offer.locator('.monaco-button', { hasText: 'Set Up a Venv' }).click({ timeout: 60_000 });
    // pip installs torch and onnx into the extension's storage (minutes on a first install)
    await page.locator('.notifications-toasts .notification-list-item-message', { hasText: /torch 2\.\d+/ }).first().waitFor({ timeout: 900_000 });
    await waitForStep('environment', 60_000);
    // what the product's own features need is in the venv it made: onnx (export), optuna (Start Sweep)
    const productPython = join(editor.workspace, '..', 'user-data', 'User', 'globalStorage', 'bond-studio.bond-studio', 'venv', 'bin', 'python');
    const imports = spawnSync(productPython, ['-c', 'import onnx, optuna'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(imports.status, 0, `the product's venv lacks a package its features use: ${imports.stderr}`);

    await editor.runCommand('BOND: Create Demo Workspace');
    await page.locator('.monaco-dialog-box .monaco-button', { hasText: 'Create Here' }).click({ timeout: 20_000 });
    // Pretraining the demo's reference takes about a minute on a CPU; the config opens when it is done.
    await page.locator('.monaco-editor .view-lines', { hasText: 'demo-jbond' }).first().waitFor({ timeout: 300_000 });
    for (const file of ['demo.bond.json', 'demo-composite.bond.json', 'prompts-train.jsonl', 'prompts-eval.jsonl', join('build', 'reference.pt')]) {
      assert.ok(existsSync(join(editor.workspace, file)), `${file} is in the demo workspace`);
    }
    await waitForStep('demoWorkspace');
    assert.ok(!(await checkedSteps()).includes('runStarted'));

    // Create Demo Workspace left demo.bond.json open in a tab: bring it to the front.
    await page.locator('.tab', { hasText: 'demo.bond.json' }).first().click();
    await page.locator('.contentWidgets .codelens-decoration a', { hasText: 'Start BOND run' }).first().click({ timeout: 30_000 });
    await waitForStep('runStarted', 60_000);
    await editor.showRunsView();
    // the run's own progress sets the pace: a loaded machine trains slower, a stuck run stops moving
    const runs = join(editor.workspace, '.bond', 'runs');
    /** The folder of the run whose name starts with `prefix`, and its run.json (undefined while being written). */
    const runFolder = (prefix: string): string | undefined => {
      const name = existsSync(runs) ? readdirSync(runs).find((d) => d.startsWith(prefix)) : undefined;
      return name ? join(runs, name) : undefined;
    };
    const runMeta = (prefix: string): RunMeta | undefined => {
      const found = runFolder(prefix);
      try {
        return found && existsSync(join(found, 'run.json')) ? JSON.parse(readFileSync(join(found, 'run.json'), 'utf8')) as RunMeta : undefined;
      } catch {
        return undefined; // being written
      }
    };
    const runDir = (): string | undefined => runFolder('demo-jbond-');
    await waitForProgress(() => {
      const now = runMeta('demo-jbond-');
      return now ? { done: now.status !== 'running' && now.status !== 'starting', progress: `${now.status} step ${now.step}` } : undefined;
    }, 'the demo run', 240_000, 1_800_000);
    await page.locator('.monaco-list-row', { hasText: /demo-jbond.*completed/ }).first().waitFor({ timeout: 60_000 });
    const dir = runDir()!;
    const meta = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunMeta;
    assert.equal(meta.status, 'completed');
    assert.ok(meta.summary && meta.summary.reward_policy > meta.summary.reward_ref + 0.5,
      `the policy beats the reference: ${JSON.stringify(meta.summary)}`);

    await editor.clickUntil(page.locator('.monaco-list-row', { hasText: /demo-jbond.*completed/ }).first(), page.locator('.tabs-container .tab', { hasText: 'BOND: demo-jbond' }), (m) => t.diagnostic(m));
    const dashboard = await editor.frameWith('[data-chart="eval_reward"] canvas', 60_000);
    await dashboard.waitForSelector('[data-chart="pareto"]');
    await waitForStep('dashboard');
    await readmeShot('demo-dashboard', 'BOND: demo-jbond', '[data-chart="eval_reward"][data-points="3"] canvas');

    await (await editor.frameWith('vscode-button[data-command="openSamples"]')).click('vscode-button[data-command="openSamples"]');
    const samples = await editor.frameWith('.rows .sample-row', 30_000);
    assert.match(await samples.textContent('.step-label') ?? '', /step 150/);
    await samples.click('.rows .sample-row[data-prompt="0"]');
    await waitForStep('samples');
    await readmeShot('demo-samples', 'BOND samples: demo-jbond', '.rows .sample-row.focused');

    // The side panel's launcher opens the playground tab with its prompt.
    const launcher = await editor.sampleView();
    await launcher.locator('vscode-textarea textarea').fill('the soup was');
    await launcher.click('vscode-button:text("Open Playground")');
    const playground = await editor.frameWith('.playground-form vscode-button', 30_000);
    await playground.waitForSelector('vscode-option', { state: 'attached', timeout: 30_000 });
    assert.equal(await playground.locator('vscode-textarea[aria-label="prompt"] textarea').inputValue(), 'the soup was');
    await playground.click('vscode-button:text("Export checkpoint")');
    await playground.waitForFunction(() => /exported step 150/.test(document.querySelector('.playground-status')?.textContent ?? ''), undefined, { timeout: 180_000 });
    await playground.click('vscode-button:text("Generate")');
    await playground.waitForSelector('.playground-results [data-winner="true"]', { timeout: 120_000 });
    // The demo starts from a pretrained model: π_ref was exported with the step, and has a column of its own.
    assert.deepEqual(await playground.$$eval('.playground-column', (cols) => cols.map((c) => (c as HTMLElement).dataset.column)), ['reference', 'policy', 'anchor', 'bon']);
    assert.ok(await playground.$$eval('[data-column="reference"] .playground-sample', (rows) => rows.length) > 0, 'π_ref\'s samples');
    await waitForStep('playground');
    await readmeShot('demo-playground', 'BOND Playground', '.playground-results [data-winner="true"]');

    await openWalkthrough();
    assert.deepEqual(await checkedSteps(), STEPS);

    // Everything Create Demo Workspace wrote runs with what the walkthrough set up: the second config too.
    // from the palette: Start Run asks which of the workspace's configs. The walkthrough page takes the
    // focus as its steps re-render (the palette then closes under the click): close it first.
    // A webview tab (the playground) would hold the keyboard focus too: from a text editor's tab, close
    // every editor, so the palette opens and Start Run asks which config (no active one to take).
    await page.keyboard.press('Escape');
    await page.locator('.tab', { hasText: 'demo.bond.json' }).first().click();
    await page.locator('.monaco-editor .view-lines', { hasText: 'demo-jbond' }).first().click();
    await editor.runCommand('View: Close All Editors');
    await page.locator('.tab', { hasText: 'demo.bond.json' }).first().waitFor({ state: 'detached', timeout: 15_000 }).catch(() => undefined);
    await editor.answerQuickPick('BOND: Start Run', ['demo-composite.bond.json'], (m) => t.diagnostic(m));
    await editor.showRunsView();
    // It runs: past its first sample snapshot (step 10: every reward component scores the anchor's
    // samples), then Stop. Its 150 steps train as the first config's did; CI's time goes elsewhere.
    const compositeDir = (): string | undefined => runFolder('demo-composite-');
    const compositeMeta = (): RunMeta | undefined => runMeta('demo-composite-');
    await waitForProgress(() => {
      const now = compositeMeta();
      const sampled = compositeDir() !== undefined && existsSync(join(compositeDir()!, 'samples.jsonl'));
      return now ? { done: (now.status === 'running' && now.step >= 10 && sampled) || (now.status !== 'running' && now.status !== 'starting'), progress: `${now.status} step ${now.step}` } : undefined;
    }, 'the composite demo run', 240_000, 900_000);
    assert.equal(compositeMeta()?.status, 'running', JSON.stringify(compositeMeta()?.error));
    await page.locator('.monaco-list-row', { hasText: /demo-composite.*running/ }).first().waitFor({ timeout: 60_000 });
    await editor.runCommand('BOND: Stop Run');
    await waitFor(() => (compositeMeta()?.status === 'stopped' ? true : undefined), 'the composite run stopped', 120_000);
    const stopped = compositeMeta()!;
    assert.ok(stopped.step >= 10 && stopped.error === null, JSON.stringify(stopped));
    const snapshot = readFileSync(join(compositeDir()!, 'samples.jsonl'), 'utf8').split('\n').find((l) => l.trim());
    assert.ok(snapshot && Number.isFinite((JSON.parse(snapshot) as { policy: { reward: number }[] }).policy[0]?.reward), 'its samples are scored');
  });
});
