/**
 * In a real VS Code: palette → "BOND: Start Run" on the tiny config → the runs view shows the run →
 * it completes. (The end-to-end issue grows this file into every scenario.)
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { RunMeta } from '../../contracts/run-directory';
import { ROOT, waitFor } from '../helpers';
import { ARTIFACTS, launchEditor, type Editor } from './harness';

let editor: Editor;

before(async () => {
  editor = await launchEditor(join(ROOT, 'test', 'e2e', 'workspace'));
});

after(async () => {
  await editor?.close();
});

test('palette → BOND: Start Run → the runs view shows it → it completes', async (t) => {
  try {
    const page = editor.page;
    // Open the config so the command picks it as the active one.
    await page.keyboard.press('Control+P');
    await page.locator('.quick-input-widget input').fill('tiny.bond.json');
    await page.locator('.quick-input-list .monaco-list-row', { hasText: 'tiny.bond.json' }).first().click();
    await page.locator('.monaco-editor .view-lines', { hasText: 'e2e-tiny' }).first().waitFor({ timeout: 30_000 });
    await editor.runCommand('BOND: Start Run');
    // The BOND view container shows the run.
    await editor.showRunsView();
    const row = page.locator('.monaco-list-row', { hasText: 'e2e-tiny' }).first();
    await row.waitFor({ timeout: 60_000 });
    await editor.screenshot('start-run-running');
    await page.locator('.monaco-list-row', { hasText: /e2e-tiny.*completed/ }).first().waitFor({ timeout: 120_000 });
    await editor.screenshot('start-run-completed');
    const runs = join(editor.workspace, '.bond', 'runs');
    const dirs = await waitFor(() => readdirSync(runs).filter((d) => d.startsWith('e2e-tiny-')), 'the run folder');
    assert.equal(dirs.length, 1);
    const meta = JSON.parse(readFileSync(join(runs, dirs[0]!, 'run.json'), 'utf8')) as RunMeta;
    assert.equal(meta.status, 'completed');
    assert.equal(meta.step, 12);
    assert.equal(meta.config_path, join(editor.workspace, 'tiny.bond.json'));
  } catch (error) {
    const shot = await editor.screenshot('start-run-failure').catch(() => 'none');
    t.diagnostic(`screenshots in ${ARTIFACTS} (failure: ${shot})`);
    throw error;
  }
});
