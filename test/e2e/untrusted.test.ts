/**
 * An untrusted workspace (Restricted Mode): starting a run is refused with the explanation, and
 * existing runs can still be viewed.
 */
import { strict as assert } from 'node:assert';
import { cpSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FIXTURES, ROOT } from '../helpers';
import { ARTIFACTS, launchEditor, type Editor } from './harness';

let editor: Editor;

before(async () => {
  editor = await launchEditor(join(ROOT, 'test', 'e2e', 'workspace'), { untrusted: true });
  cpSync(join(FIXTURES, 'runs', 'completed'), join(editor.workspace, '.bond', 'runs', 'fixture-completed'), { recursive: true });
});

after(async () => {
  await editor?.close();
});

test('untrusted workspace: Start is refused with the reason; existing runs can be viewed', async (t) => {
  try {
    const page = editor.page;
    await page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ timeout: 30_000 });
    await editor.runCommand('BOND: Start Run');
    await page.locator('.notifications-toasts .notification-list-item-message', { hasText: 'trusted workspace' }).first()
      .waitFor({ timeout: 30_000 });
    await editor.showRunsView();
    await page.locator('.monaco-list-row', { hasText: /fixture-completed.*completed/ }).first().waitFor({ timeout: 30_000 });
    await editor.screenshot('untrusted');
    assert.deepEqual(readdirSync(join(editor.workspace, '.bond', 'runs')), ['fixture-completed'], 'no run was started');
  } catch (error) {
    const shot = await editor.screenshot('untrusted-failure').catch(() => 'none');
    t.diagnostic(`screenshots in ${ARTIFACTS} (failure: ${shot})`);
    throw error;
  }
});
