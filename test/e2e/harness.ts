/**
 * The end-to-end harness: a real VS Code (code-server 4.100.3 = VS Code 1.100.3) with the packaged
 * extension installed from its .vsix, driven through headless Debian Chromium with playwright-core.
 * Each scenario leaves screenshots in test-results/e2e; a failure says where they are.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { chromium, type Browser, type Frame, type Locator, type Page } from 'playwright-core';
import { ROOT, tempDir, testPython } from '../helpers';

export const ARTIFACTS = join(ROOT, 'test-results', 'e2e');
const CHROMIUM = process.env.BOND_E2E_CHROMIUM ?? '/usr/bin/chromium';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface Editor {
  page: Page;
  workspace: string;
  screenshot(name: string): Promise<string>;
  /** run a command from the palette by its title, e.g. "BOND: Start Run" */
  runCommand(title: string): Promise<void>;
  /**
   * Run a command that asks for a value in an input box titled `boxTitle`, type `text` and press
   * Enter. A box that closes before it is answered (a view taking the focus as it loads) is asked for
   * again by running the command again, up to 3 times, said through `report`. `whileOpen` runs once
   * the box shows, before it is answered (what a user does meanwhile, such as looking elsewhere).
   */
  answerInputBox(command: string, boxTitle: string, text: string, report?: (message: string) => void,
    whileOpen?: () => Promise<void>): Promise<void>;
  /**
   * Run a command that asks in a quick pick and click the rows that hold `rows` (one row: the pick;
   * several: a multi-select, accepted with Enter). A pick that closed before it was answered is asked
   * for again as answerInputBox's box is.
   */
  answerQuickPick(command: string, rows: string[], report?: (message: string) => void): Promise<void>;
  /** open the BOND container's Runs view (idempotent, unlike clicking the activity bar) */
  showRunsView(): Promise<void>;
  /** focus the side panel (Sample view: inspector and playground launcher) and return its frame once loaded */
  sampleView(): Promise<Frame>;
  /** a frame (webview iframes are nested) that contains the selector */
  frameWith(selector: string, timeoutMs?: number): Promise<Frame>;
  /** open a workspace file by name with Quick Open; resolves when its tab is active */
  openFile(name: string): Promise<void>;
  /** what a failure report needs beyond a screenshot: the open tabs, the frames, the extension's own log */
  diagnostics(): Promise<string>;
  /**
   * Click a row of a tree or list and wait until `opened` shows (a dashboard's tab); a click the list
   * lost (the row re-rendered under the pointer by an update) is tried again, up to 3 clicks, and
   * said through `report` so that it shows in the test's output even when a later click works.
   */
  clickUntil(row: Locator, opened: Locator, report?: (message: string) => void): Promise<void>;
  close(): Promise<void>;
}

/** The last lines of every log file under `root` whose name matches, newest folder last. */
function logTails(root: string, name: RegExp, lines: number): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 4 || !existsSync(dir)) return;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path, depth + 1);
      else if (name.test(entry.name)) found.push(path);
    }
  };
  walk(root, 0);
  return found.sort().map((path) => `--- ${path}\n${readFileSync(path, 'utf8').split('\n').slice(-lines).join('\n')}`);
}

/** Runs are detached on purpose; after a failed scenario, make sure none outlives the test. */
function killLeftoverTrainers(workspace: string): void {
  const runs = join(workspace, '.bond', 'runs');
  if (!existsSync(runs)) return;
  for (const entry of readdirSync(runs)) {
    try {
      const meta = JSON.parse(readFileSync(join(runs, entry, 'run.json'), 'utf8')) as { status: string; pid: number };
      if ((meta.status === 'running' || meta.status === 'starting') && meta.pid > 0) process.kill(-meta.pid, 'SIGKILL');
    } catch {
      // no run.json, or the process is already gone
    }
  }
}

/** Provision code-server (cached), install the .vsix, start it on a fresh profile, open the workspace. */
export interface LaunchOptions {
  /** open the workspace in Restricted Mode (untrusted) instead of trusting it */
  untrusted?: boolean;
  settings?: Record<string, unknown>;
  /** no interpreter given (no bond.pythonPath, no $BOND_PYTHON): the product must make its own venv */
  productPython?: boolean;
}

function serverEnv(options: LaunchOptions): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, BOND_PYTHON: testPython() };
  if (options.productPython) delete env.BOND_PYTHON;
  return env;
}

export async function launchEditor(workspaceTemplate: string, options: LaunchOptions = {}): Promise<Editor> {
  const codeServer = execFileSync('bash', [join(ROOT, 'test', 'e2e', 'provision.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    .trim().split('\n').slice(-1)[0]!;
  const vsix = join(ROOT, 'bond-studio.vsix');
  const home = tempDir('bond-e2e-');
  const extensions = join(home, 'extensions');
  const userData = join(home, 'user-data');
  const workspace = join(home, 'workspace');
  cpSync(workspaceTemplate, workspace, { recursive: true });
  mkdirSync(join(userData, 'User'), { recursive: true });
  writeFileSync(join(userData, 'User', 'settings.json'), JSON.stringify({
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'security.workspace.trust.enabled': options.untrusted === true,
    // With trust on and no prompt, a new folder opens in Restricted Mode.
    'security.workspace.trust.startupPrompt': 'never',
    'extensions.autoUpdate': false,
    'telemetry.telemetryLevel': 'off',
    'bond.pythonPath': options.productPython ? '' : testPython(),
    ...options.settings,
  }, null, 2));
  // The path a user takes: install the packaged extension.
  execFileSync(codeServer, ['--install-extension', vsix, '--extensions-dir', extensions, '--user-data-dir', userData],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await freePort();
  const server: ChildProcess = spawn(codeServer, ['--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry',
    '--disable-update-check', ...(options.untrusted ? [] : ['--disable-workspace-trust']), '--extensions-dir', extensions,
    '--user-data-dir', userData, workspace],
  { stdio: ['ignore', 'pipe', 'pipe'], env: serverEnv(options) });
  let serverLog = '';
  server.stdout?.on('data', (d: Buffer) => { serverLog += d.toString(); });
  server.stderr?.on('data', (d: Buffer) => { serverLog += d.toString(); });
  const url = `http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`;
  for (let i = 0; i < 100; i++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (response.ok) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 200));
    if (i === 99) throw new Error(`code-server did not start on port ${port}:\n${serverLog.slice(-2000)}`);
  }
  let browser: Browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--no-first-run', '--disable-sync', '--disable-quic'],
    });
  } catch (error) {
    server.kill();
    throw new Error(`cannot start Chromium at ${CHROMIUM} (test/e2e/provision.sh installs it): ${(error as Error).message}`);
  }
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  // The workbench's and the webviews' errors (every frame reports to the page), the newest kept.
  const consoleErrors: string[] = [];
  const keepError = (text: string): void => {
    consoleErrors.push(`${new Date().toISOString().slice(11, 23)} ${text.slice(0, 400)}`);
    if (consoleErrors.length > 30) consoleErrors.shift();
  };
  page.on('console', (message) => { if (message.type() === 'error') keepError(message.text()); });
  page.on('pageerror', (error) => keepError(`uncaught: ${error.message}`));
  await page.goto(url);
  await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
  // The extension's contributions are registered once its activity-bar item exists.
  await page.locator('.activitybar [aria-label^="BOND"]').first().waitFor({ timeout: 60_000 });
  mkdirSync(ARTIFACTS, { recursive: true });

  // A quick input closes when a view takes the focus as it finishes loading (seen on a loaded CI
  // machine): the command is run again, up to 3 times, and each retry is said through `report`.
  const answerAgainIfClosed = async (command: string, what: string, report: ((message: string) => void) | undefined,
    answer: () => Promise<void>): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      await editor.runCommand(command);
      try {
        await answer();
        return;
      } catch (error) {
        const message = `${what} of "${command}" was not answered (try ${attempt}): ${(error as Error).message.split('\n')[0]}`;
        if (attempt >= 3) throw new Error(`${message}\n${await editor.diagnostics()}`);
        report?.(`${message}: running the command again`);
        await page.keyboard.press('Escape');
      }
    }
  };
  const editor: Editor = {
    page,
    workspace,
    async screenshot(name) {
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path });
      return path;
    },
    async runCommand(title) {
      // Commands can appear in the palette a moment after the workbench does (the extension host
      // registers them; after a reload the layout is restored first): retry until it is there.
      const deadline = Date.now() + 30_000;
      for (;;) {
        await page.keyboard.press('F1');
        const input = page.locator('.quick-input-widget input');
        // a webview (its own iframe) can hold the keyboard focus, after a reload too: F1 then goes to
        // it, so the palette is opened again from the workbench's status bar until it shows
        const shown = await input.waitFor({ state: 'visible', timeout: 5_000 }).then(() => true, () => false);
        if (!shown) {
          if (Date.now() > deadline) throw new Error(`the command palette did not open within 30 s (for "${title}")`);
          await page.locator('.part.statusbar').first().click({ position: { x: 5, y: 5 } }).catch(() => undefined);
          continue;
        }
        const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
        try {
          // A view that takes the focus as it loads (a dashboard just opened) closes the palette the
          // moment after it showed: the fill then finds no visible input, and the palette is opened again.
          await input.fill(`>${title}`, { timeout: 3_000 });
          await row.waitFor({ timeout: 3_000 });
          await row.click();
          // A click on a row the list is re-rendering is lost: the palette then still holds the title
          // (a command that opens a quick pick of its own changes the text, one that runs closes it).
          const taken = await page.waitForFunction((typed) => {
            const box = document.querySelector<HTMLInputElement>('.quick-input-widget input');
            return !box || box.offsetParent === null || box.value !== typed;
          }, `>${title}`, { timeout: 5_000 }).then(() => true, () => false);
          if (taken) return;
          throw new Error('the palette did not take the click');
        } catch (error) {
          await page.keyboard.press('Escape');
          if (Date.now() > deadline) throw new Error(`no command "${title}" in the palette within 30 s: ${(error as Error).message}`);
          await page.waitForTimeout(500);
        }
      }
    },
    async answerInputBox(command, boxTitle, text, report, whileOpen) {
      const box = page.locator('.quick-input-widget input').and(page.getByRole('textbox', { name: boxTitle, exact: true }));
      await answerAgainIfClosed(command, `the input box "${boxTitle}"`, report, async () => {
        await box.waitFor({ state: 'visible', timeout: 20_000 });
        await whileOpen?.();
        await box.fill(text, { timeout: 5_000 });
        await box.press('Enter', { timeout: 5_000 });
      });
    },
    async answerQuickPick(command, rows, report) {
      await answerAgainIfClosed(command, `the pick of ${rows.join(', ')}`, report, async () => {
        for (const row of rows) await page.locator('.quick-input-list .monaco-list-row', { hasText: row }).first().click({ timeout: 20_000 });
        if (rows.length > 1) await page.locator('.quick-input-widget input').press('Enter', { timeout: 5_000 });
      });
    },
    async frameWith(selector, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        for (const frame of page.frames()) {
          if (await frame.$(selector).catch(() => null)) return frame;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`no frame with ${selector} within ${timeoutMs} ms`);
    },
    async openFile(name) {
      // Quick Open can miss a keypress while a page such as the walkthrough holds the focus: retry.
      const input = page.locator('.quick-input-widget input');
      for (let attempt = 0; ; attempt++) {
        await page.keyboard.press('Control+P');
        try {
          await input.waitFor({ state: 'visible', timeout: 3_000 });
          // a view taking the focus as it loads closes Quick Open again: then it is opened once more
          await input.fill(name, { timeout: 3_000 });
          break;
        } catch (error) {
          if (attempt >= 5) throw new Error(`Quick Open did not open to find ${name}: ${(error as Error).message}`);
          await page.keyboard.press('Escape');
        }
      }
      // The list re-renders as the file search answers (a click then lands on a row being replaced,
      // and is lost), and before the filter applies it still lists the recent files with another one
      // highlighted: once the highlighted row is the file, Enter opens it.
      const highlighted = page.locator('.quick-input-list .monaco-list-row.focused', { hasText: name });
      await highlighted.waitFor({ timeout: 20_000 });
      const active = page.locator('.tab.active', { hasText: name });
      for (let attempt = 0; ; attempt++) {
        await page.keyboard.press('Enter');
        if (await active.waitFor({ timeout: 10_000 }).then(() => true, () => false)) return;
        if (attempt >= 2) throw new Error(`Quick Open did not open ${name} within 30 s (Enter pressed 3 times)`);
        if (!(await input.isVisible())) {
          await page.keyboard.press('Control+P');
          await input.fill(name);
          await highlighted.waitFor({ timeout: 20_000 });
        }
      }
    },
    async sampleView() {
      // A webview view that was hidden (window reload, sidebar switch) loads again only once shown:
      // focusing it resolves it; a second focus covers a page that was still starting.
      for (let attempt = 0; ; attempt++) {
        await editor.runCommand('BOND: Focus on Sample View');
        try {
          return await editor.frameWith('.playground-launcher vscode-button', 20_000);
        } catch (error) {
          if (attempt >= 2) throw error;
        }
      }
    },
    async showRunsView() {
      await editor.runCommand('BOND: Focus on Runs View');
      await page.locator('.part.sidebar .composite.title', { hasText: /BOND/i }).first().waitFor({ timeout: 15_000 });
    },
    async clickUntil(row, opened, report) {
      for (let attempt = 1; ; attempt++) {
        await row.click();
        if (await opened.first().waitFor({ timeout: 20_000 }).then(() => true, () => false)) return;
        if (attempt >= 3) throw new Error(`clicked a row 3 times and nothing opened:\n${await editor.diagnostics()}`);
        report?.(`click ${attempt} on the row opened nothing within 20 s: clicking again\n${await editor.diagnostics()}`);
      }
    },
    async diagnostics() {
      const tabs = await page.locator('.tabs-container .tab').allTextContents().catch(() => [] as string[]);
      const frames = page.frames().map((frame) => frame.url().replace(/\?.*/, '')).filter((url) => url !== 'about:blank');
      return [
        `tabs: ${JSON.stringify(tabs.map((tab) => tab.trim()))}`,
        `frames: ${frames.length}\n${frames.join('\n')}`,
        `console errors (newest ${consoleErrors.length}):\n${consoleErrors.join('\n')}`,
        ...logTails(join(userData, 'logs'), /^\d+-BOND Studio\.log$|^remoteexthost\.log$/, 40),
      ].join('\n');
    },
    async close() {
      await browser.close().catch(() => undefined);
      server.kill('SIGTERM');
      killLeftoverTrainers(workspace);
    },
  };
  return editor;
}

/** Run one scenario's body; a screenshot at the end, or on failure one named so, with where to find it. */
export async function scenario(editor: Editor, name: string, t: { diagnostic(message: string): void }, body: () => Promise<void>): Promise<void> {
  try {
    await body();
    await editor.screenshot(name);
  } catch (error) {
    const shot = await editor.screenshot(`${name}-failure`).catch(() => 'none');
    t.diagnostic(`screenshots in ${ARTIFACTS} (failure: ${shot})`);
    // CI keeps only what the test prints: what the editor showed and logged, not just the picture
    const report = await editor.diagnostics().catch((e: unknown) => `no diagnostics: ${String(e)}`);
    for (const line of report.split('\n')) t.diagnostic(line);
    throw error;
  }
}
