/**
 * An untrusted workspace (Restricted Mode): no process starts from anything the workspace controls.
 * The workspace names an interpreter twice (its .venv/bin/python and a workspace bond.pythonPath),
 * both scripts that leave a marker when run; opening a config, Check Environment, Start Run and the
 * playground's launcher must leave no marker. Starting is refused with the reason; existing runs can
 * still be viewed.
 */
import { strict as assert } from 'node:assert';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FIXTURES, ROOT, tempDir } from '../helpers';
import { launchEditor, scenario, type Editor } from './harness';

let editor: Editor;
const outside = tempDir('bond-e2e-hostile-');
const markers = join(outside, 'markers');

/** An "interpreter" that records that it was run, then fails like a broken Python. */
function markerScript(path: string, name: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, `#!/bin/sh\nmkdir -p '${markers}'\necho "$@" > '${join(markers, name)}'\nexit 1\n`);
  chmodSync(path, 0o755);
}

before(async () => {
  const template = join(outside, 'workspace');
  cpSync(join(ROOT, 'test', 'e2e', 'workspace'), template, { recursive: true });
  markerScript(join(template, '.venv', 'bin', 'python'), 'workspace-venv');
  markerScript(join(outside, 'setting-python'), 'workspace-setting');
  mkdirSync(join(template, '.vscode'), { recursive: true });
  writeFileSync(join(template, '.vscode', 'settings.json'), JSON.stringify({ 'bond.pythonPath': join(outside, 'setting-python') }));
  // No user-level interpreter: a workspace that is wrongly trusted would fall through to its own.
  editor = await launchEditor(template, { untrusted: true, settings: { 'bond.pythonPath': '' } });
  cpSync(join(FIXTURES, 'runs', 'completed'), join(editor.workspace, '.bond', 'runs', 'fixture-completed'), { recursive: true });
});

after(async () => {
  await editor?.close();
});

test('untrusted workspace: nothing the workspace names is run; Start is refused with the reason; existing runs can be viewed', async (t) => {
  await scenario(editor, 'untrusted', t, async () => {
    const page = editor.page;
    await page.locator('.statusbar-item', { hasText: 'Restricted Mode' }).first().waitFor({ timeout: 30_000 });
    // A config opened: schema checks only, and a note that the trainer's checks need trust.
    await editor.openFile('tiny.bond.json');
    await editor.runCommand('View: Focus Problems (Errors, Warnings, Infos)');
    await page.locator('.markers-panel .monaco-list-row', { hasText: 'run once this workspace is trusted' }).first().waitFor({ timeout: 30_000 });
    await editor.runCommand('BOND: Check Environment');
    await page.locator('.notifications-toasts .notification-list-item-message', { hasText: 'only in a trusted workspace' }).first()
      .waitFor({ timeout: 30_000 });
    await editor.runCommand('BOND: Start Run');
    await page.locator('.notifications-toasts .notification-list-item-message', { hasText: 'trusted workspace' }).first()
      .waitFor({ timeout: 30_000 });
    await editor.showRunsView();
    await page.locator('.monaco-list-row', { hasText: /fixture-completed.*completed/ }).first().waitFor({ timeout: 30_000 });
    await editor.screenshot('untrusted');
    // Give anything that was (wrongly) started time to leave its marker.
    await page.waitForTimeout(3_000);
    assert.equal(existsSync(markers) ? readdirSync(markers).join(', ') : '', '', 'a workspace-named interpreter ran in Restricted Mode');
    assert.deepEqual(readdirSync(join(editor.workspace, '.bond', 'runs')), ['fixture-completed'], 'no run was started');
  });
});
