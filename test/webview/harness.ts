/**
 * Runs the webview bundles in headless Debian Chromium, outside VS Code: a tiny static server hands
 * out the page the host would build (same HTML, same CSP) and the bundles; a stand-in
 * acquireVsCodeApi records what the webview posts and keeps its state; tests play host messages.
 */
import { createServer, type Server } from 'node:http';
import { promises as fs, readFileSync } from 'node:fs';
import { join, normalize } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { MetricRecord, RunMeta, SampleRecord } from '../../contracts/run-directory';
import type { ExperimentRow } from '../../contracts/webviews/experiments';
import { renderWebviewHtml, webviewAssets, type WebviewName } from '../../src/core/webviewHtml';
import { FIXTURES, ROOT, waitFor } from '../helpers';

const CHROMIUM = process.env.BOND_E2E_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, 'test-results', 'webview');

/** A few of VS Code's theme variables, enough to tell light from dark in screenshots. */
export const THEMES: Record<'dark' | 'light', Record<string, string>> = {
  dark: {
    '--vscode-font-family': 'sans-serif', '--vscode-font-size': '13px', '--vscode-foreground': '#cccccc',
    '--vscode-editor-background': '#1f1f1f', '--vscode-descriptionForeground': '#9d9d9d', '--vscode-editorWidget-border': '#454545',
    '--vscode-focusBorder': '#0078d4', '--vscode-list-hoverBackground': '#2a2d2e', '--vscode-list-activeSelectionBackground': '#04395e',
    '--vscode-list-activeSelectionForeground': '#ffffff', '--vscode-button-background': '#0078d4', '--vscode-button-foreground': '#ffffff',
    '--vscode-textLink-foreground': '#4daafc', '--vscode-errorForeground': '#f85149', '--vscode-charts-blue': '#3794ff',
    '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#89d185', '--vscode-charts-purple': '#b180d7',
    '--vscode-charts-red': '#f14c4c', '--vscode-charts-yellow': '#cca700', '--vscode-progressBar-background': '#0078d4',
  },
  light: {
    '--vscode-font-family': 'sans-serif', '--vscode-font-size': '13px', '--vscode-foreground': '#3b3b3b',
    '--vscode-editor-background': '#ffffff', '--vscode-descriptionForeground': '#717171', '--vscode-editorWidget-border': '#c8c8c8',
    '--vscode-focusBorder': '#005fb8', '--vscode-list-hoverBackground': '#f2f2f2', '--vscode-list-activeSelectionBackground': '#e8e8e8',
    '--vscode-list-activeSelectionForeground': '#000000', '--vscode-button-background': '#005fb8', '--vscode-button-foreground': '#ffffff',
    '--vscode-textLink-foreground': '#005fb8', '--vscode-errorForeground': '#e51400', '--vscode-charts-blue': '#1a85ff',
    '--vscode-charts-orange': '#d18616', '--vscode-charts-green': '#388a34', '--vscode-charts-purple': '#652d90',
    '--vscode-charts-red': '#e51400', '--vscode-charts-yellow': '#bf8803', '--vscode-progressBar-background': '#005fb8',
  },
};

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html' };

export interface Harness {
  browser: Browser;
  origin: string;
  open(name: WebviewName, options?: { theme?: 'dark' | 'light'; state?: unknown; width?: number; height?: number }): Promise<WebviewPage>;
  close(): Promise<void>;
}

export interface WebviewPage {
  page: Page;
  /** what the webview posted to the host so far */
  posted(): Promise<{ type: string; [key: string]: unknown }[]>;
  /** the last state the webview saved */
  state(): Promise<unknown>;
  /** deliver a host message as VS Code does (a window message event) */
  send(message: unknown): Promise<void>;
  waitForPosted(type: string): Promise<{ type: string; [key: string]: unknown }>;
  /** CSP violations and page errors seen so far */
  problems(): string[];
}

export async function startHarness(): Promise<Harness> {
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const page = /^\/page\/(dashboard|samples|inspector|playground|sweep|experiments)$/.exec(url.pathname);
    if (page) {
      const name = page[1] as WebviewName;
      const assets = webviewAssets(name);
      const origin = `http://${request.headers.host}`;
      response.writeHead(200, { 'content-type': 'text/html' });
      response.end(renderWebviewHtml({ name, title: name, cspSource: origin, scriptUri: `${origin}/${assets.script}`, styleUris: assets.styles.map((s) => `${origin}/${s}`) }));
      return;
    }
    if (url.pathname === '/favicon.ico') {
      response.writeHead(204).end(); // a browser asks for it; VS Code's webview host answers it too
      return;
    }
    const path = normalize(join(ROOT, decodeURIComponent(url.pathname)));
    if (!path.startsWith(join(ROOT, 'dist')) && !path.startsWith(join(ROOT, 'media'))) {
      response.writeHead(404).end();
      return;
    }
    fs.readFile(path).then((body) => {
      response.writeHead(200, { 'content-type': TYPES[path.slice(path.lastIndexOf('.'))] ?? 'application/octet-stream' });
      response.end(body);
    }, () => response.writeHead(404).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
  });

  return {
    browser,
    origin,
    async open(name, options = {}) {
      const context = await browser.newContext({ viewport: { width: options.width ?? 1280, height: options.height ?? 900 } });
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
      });
      await page.addInitScript(({ theme, state }) => {
        const w = window as unknown as Record<string, unknown>;
        w.__posted = [];
        w.__state = state;
        w.__cspViolations = [];
        document.addEventListener('securitypolicyviolation', (event) => {
          (w.__cspViolations as string[]).push(`${event.violatedDirective}: ${event.blockedURI}`);
        });
        // VS Code sets its theme variables on <html>; CSSOM writes are not inline styles, so the CSP
        // allows them. The init script can run before <html> exists: then apply it as soon as it does.
        const applyTheme = (): boolean => {
          const root = document.documentElement;
          if (!root) return false;
          for (const [key, value] of Object.entries(theme.vars)) root.style.setProperty(key, value);
          return true;
        };
        if (!applyTheme()) {
          const observer = new MutationObserver(() => {
            if (applyTheme()) observer.disconnect();
          });
          observer.observe(document, { childList: true });
        }
        document.addEventListener('DOMContentLoaded', () => document.body.classList.add(theme.kind === 'dark' ? 'vscode-dark' : 'vscode-light'));
        let acquired = false;
        w.acquireVsCodeApi = () => {
          if (acquired) throw new Error('acquireVsCodeApi may be called only once');
          acquired = true;
          return {
            postMessage: (message: unknown) => (w.__posted as unknown[]).push(JSON.parse(JSON.stringify(message))),
            getState: () => w.__state,
            setState: (next: unknown) => {
              w.__state = JSON.parse(JSON.stringify(next));
            },
          };
        };
      }, { theme: { kind: options.theme ?? 'dark', vars: THEMES[options.theme ?? 'dark'] }, state: options.state ?? null });
      await page.goto(`${origin}/page/${name}`);
      const handle: WebviewPage = {
        page,
        posted: () => page.evaluate(() => (window as unknown as { __posted: { type: string }[] }).__posted),
        state: () => page.evaluate(() => (window as unknown as { __state: unknown }).__state),
        send: (message) => page.evaluate((m) => window.postMessage(m, '*'), message),
        waitForPosted: (type) => waitFor(async () => (await handle.posted()).find((m) => m.type === type), `the webview to post '${type}'`, 10_000),
        problems: () => problems,
      };
      await handle.waitForPosted('ready');
      return handle;
    },
    async close() {
      await browser.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** CSP violations recorded in the page (the securitypolicyviolation events). */
export async function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __cspViolations: string[] }).__cspViolations);
}

// ---- data from the shared fixtures ----

export function fixtureRun(name: 'completed' | 'failed'): { meta: RunMeta; metrics: MetricRecord[]; samples: SampleRecord[] } {
  const dir = join(FIXTURES, 'runs', name);
  const lines = (file: string): string[] => {
    try {
      return readFileSync(join(dir, file), 'utf8').split('\n').filter((line) => line.trim());
    } catch {
      return [];
    }
  };
  return {
    meta: JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as RunMeta,
    metrics: lines('metrics.jsonl').map((line) => JSON.parse(line) as MetricRecord),
    samples: lines('samples.jsonl').map((line) => JSON.parse(line) as SampleRecord),
  };
}

/**
 * A longer history in the fixture's shape: the fixture's train line repeated with drifting values
 * (and a spike at `spikeStep`), and its eval line every `evalEvery` steps.
 */
export function syntheticMetrics(steps: number, options: { spikeStep?: number; evalEvery?: number; seed?: number; startTime?: number } = {}): MetricRecord[] {
  const { metrics } = fixtureRun('completed');
  const train = metrics.find((m) => m.kind === 'train') as MetricRecord;
  const evalLine = metrics.find((m) => m.kind === 'eval') as MetricRecord;
  let seed = options.seed ?? 1;
  const noise = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648 - 0.5;
  };
  const out: MetricRecord[] = [];
  const start = options.startTime ?? 1_800_000_000;
  for (let step = 1; step <= steps; step++) {
    const progress = step / steps;
    const record: MetricRecord = { ...train, step, time: start + step * 0.5 };
    for (const [key, value] of Object.entries(train)) {
      if (typeof value === 'number' && key !== 'step' && key !== 'time') record[key] = value * (1 - 0.5 * progress) + noise();
    }
    record['reward/policy'] = 2 * progress + noise();
    record['kl/policy_ref'] = 1.8 * progress + 0.2 * noise();
    if (step === options.spikeStep) record['loss/total'] = 1000;
    out.push(record);
    if (options.evalEvery && step % options.evalEvery === 0) {
      out.push({ ...evalLine, step, time: start + step * 0.5 + 0.1, 'eval/reward/policy': 2 * progress, 'eval/kl/policy_ref': 1.8 * progress, 'eval/effective_n': 1 + 15 * progress });
    }
  }
  return out;
}

export const HOSTILE_LABEL = '<img src=x onerror="window.__canary = 1">';

/**
 * Rows for the experiments table: the first 9,000 (of 10,000) in three sweeps of 3,000, the rest in
 * none; J-BOND and REINFORCE alternating, every tenth failed, run 42 running, run 7's label hostile,
 * run 3 with a reader's problem, rewards spread without order.
 */
export function experimentRows(count: number): ExperimentRow[] {
  const rows: ExperimentRow[] = [];
  for (let i = 0; i < count; i++) {
    const sweep = i < 9000 ? `sweep-${Math.floor(i / 3000)}` : null;
    const algorithm = i % 2 ? 'reinforce' : 'jbond';
    rows.push({
      dir: `/runs/r${String(i).padStart(5, '0')}`, label: i === 7 ? HOSTILE_LABEL : `run-${String(i).padStart(5, '0')}`,
      status: i % 10 === 0 ? 'failed' : i === 42 ? 'running' : 'completed', algorithm, sweep, trial: sweep ? i % 3000 : null, seed: sweep ? 1 : null,
      step: 150, totalSteps: 150, tags: i % 100 === 0 ? ['baseline'] : [],
      config: { algorithm: JSON.stringify(algorithm), 'train.lr': String(0.001 * (1 + (i % 5))), ...(algorithm === 'jbond' ? { 'anchor.ema_eta': String(0.01 * (1 + (i % 3))) } : {}) },
      reward: (i * 7919) % 10000 / 1000, kl: (i % 97) / 10, effectiveN: 4 + (i % 12), winRate: (i % 50) / 50,
      durationS: 60 + (i % 600), startedAt: 1_800_000_000_000 + i * 1000, problem: i === 3 ? 'run.json: unknown status' : null,
    });
  }
  return rows;
}
