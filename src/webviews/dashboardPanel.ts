/** The dashboard panel's host side: one run, or several in compare mode. */
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import { RUN_FOLDER } from '../../contracts/run-directory';
import {
  parseDashboardMessage, type DashboardRun, type DashboardToHost, type HostToDashboard, type SkippedLines, type SnapshotMetrics,
} from '../../contracts/webviews/dashboard';
import { SNAPSHOT_ALL_LINES_UP_TO, SNAPSHOT_BUCKETS } from '../core/metricHistory';
import { runLabel, type RunStore } from '../core/runStore';
import { toDashboardRun } from '../core/webviewModels';
import { closeTabs, setWebviewHtml, unrevivedTabs, WebviewChannel, webviewOptions } from './channel';
import { exportFile } from './saveFile';
import { runState } from './runSource';
import { COMMANDS } from '../commandIds';
import { reach } from '../milestones';
import type { ViewLinks } from './links';

export const DASHBOARD_VIEW_TYPE = 'bond.dashboard';

const dashboardTitle = (names: string[]): string => (names.length > 1 ? `BOND: compare ${names.length} runs` : `BOND: ${names[0] ?? ''}`);

export class DashboardPanel implements vscode.Disposable {
  private static readonly open = new Map<string, DashboardPanel>();
  /** the runs shown; the store holds their metric history (one reader of metrics.jsonl per run) */
  private readonly shown = new Set<string>();
  private readonly channel: WebviewChannel<HostToDashboard, DashboardToHost>;
  private readonly disposables: vscode.Disposable[] = [];
  private pumping: Promise<void> = Promise.resolve();

  /** Show the dashboard of these runs, reusing an open panel of the same runs. */
  static show(extensionUri: vscode.Uri, store: RunStore, links: ViewLinks, log: vscode.OutputChannel, dirs: string[]): DashboardPanel {
    const key = dirs.join('\n');
    const existing = DashboardPanel.open.get(key);
    if (existing) {
      existing.panel.reveal(undefined, false);
      return existing;
    }
    const known = dirs.length === 1 ? store.get(dirs[0]!) : undefined;
    // A compare panel's title names no run: only a single run's restored tab is known for its own.
    const stale = known ? unrevivedTabs(DASHBOARD_VIEW_TYPE, dashboardTitle([runLabel(known)])) : [];
    const panel = vscode.window.createWebviewPanel(DASHBOARD_VIEW_TYPE, 'BOND dashboard', vscode.ViewColumn.Active,
      { ...webviewOptions(extensionUri), retainContextWhenHidden: false });
    closeTabs(stale, log);
    return new DashboardPanel(panel, extensionUri, store, links, log, dirs);
  }

  constructor(readonly panel: vscode.WebviewPanel, extensionUri: vscode.Uri, private readonly store: RunStore,
    private readonly links: ViewLinks, private readonly log: vscode.OutputChannel, readonly dirs: string[]) {
    DashboardPanel.open.set(dirs.join('\n'), this);
    reach('dashboard');
    for (const dir of dirs) {
      this.shown.add(dir);
      this.disposables.push(store.retainMetrics(dir));
    }
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'bond.svg');
    panel.webview.options = webviewOptions(extensionUri);
    this.channel = new WebviewChannel(panel.webview, parseDashboardMessage, {
      onReady: () => void this.sendSnapshot(),
      onMessage: (message) => void this.handle(message),
    }, log);
    setWebviewHtml(panel.webview, extensionUri, 'dashboard', 'BOND dashboard');
    this.disposables.push(
      this.channel,
      store.onDidAppendMetrics((event) => {
        if (!this.shown.has(event.dir) || !this.channel.isReady) return;
        if (event.reset) {
          // The file was cut back (resume) or read again from the start: a snapshot replaces what the
          // view holds (unless one is under way and has not yet taken the history), and no append
          // goes out until it has.
          const needed = this.snapshotSent;
          this.snapshotSent = false;
          if (needed) void this.sendSnapshot();
          return;
        }
        // Behind any snapshot being sent: what goes out is the history past what the view holds, so a
        // line in both the snapshot and this event is sent once.
        this.pumping = this.pumping.then(() => this.sendAppends(event.dir));
      }),
      // A resume cuts metrics.jsonl back: the store rewinds its own tail and reports reset, so the
      // append handler above covers it; run changes only move the headers.
      store.onDidChangeRuns((runs) => {
        if (runs.some((run) => this.shown.has(run.dir))) void this.sendHeaders();
      }),
      links.onDidShowStep((event) => {
        if (this.shown.has(event.dir) && this.channel.isReady) this.channel.post({ type: 'marker', dir: event.dir, step: event.step });
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    void this.updateTitle();
  }

  private async headers(): Promise<DashboardRun[]> {
    const headers: DashboardRun[] = [];
    for (const dir of this.dirs) {
      const state = await runState(this.store, dir);
      if (state) headers.push(toDashboardRun(dir, state.meta, state.status, Date.now(), state.metaNotes,
        { label: runLabel(state), note: state.annotations?.note, tags: state.annotations?.tags }));
    }
    return headers;
  }

  private async updateTitle(): Promise<void> {
    const headers = await this.headers();
    this.panel.title = dashboardTitle(headers.length ? headers.map((h) => h.name) : [basename(this.dirs[0] ?? '')]);
  }

  private async sendHeaders(): Promise<void> {
    if (this.channel.isReady) this.channel.post({ type: 'runs', runs: await this.headers() });
  }

  /** Read every run's metrics from the start and send them all (queued behind other reads). */
  private sendSnapshot(): Promise<void> {
    this.pumping = this.pumping.then(() => this.sendSnapshotNow())
      .catch((error: unknown) => this.log.appendLine(`[dashboard] snapshot failed: ${String(error)}`));
    return this.pumping;
  }

  private snapshotSent = false;
  /** per run, how many of its history's lines the view holds */
  private readonly sent = new Map<string, number>();

  private sendAppends(dir: string): void {
    const history = this.store.metricsHistory(dir);
    if (!history || !this.snapshotSent) return;
    const from = this.sent.get(dir) ?? 0;
    if (history.length - (this.reducedAt.get(dir) ?? 0) > SNAPSHOT_ALL_LINES_UP_TO) {
      // A live run that outgrew what a view holds line by line: a reduced snapshot replaces it.
      void this.sendSnapshot();
      return;
    }
    this.sent.set(dir, history.length);
    if (history.length > from) this.channel.post({ type: 'append', dir, records: history.slice(from) });
    this.postSkipped();
  }

  /** per run, the history's length when the view last got it whole or reduced (what it holds line by line comes after) */
  private readonly reducedAt = new Map<string, number>();

  private async sendSnapshotNow(): Promise<void> {
    this.snapshotSent = false;
    // The store reads a newly held run's history on its next pass: wait for those runs (a run whose
    // run.json is not written yet sends none now, and a snapshot follows when its lines are read).
    await Promise.all(this.dirs.map((dir) => this.store.whenHistory(dir, 5_000)));
    const headers = await this.headers();
    // Taken in one go, with nothing awaited after: every later line reaches the view as an append.
    const metrics: SnapshotMetrics[] = this.dirs.map((dir) => {
      const history = this.store.metricsHistory(dir);
      const { records, lines } = history?.reduced(SNAPSHOT_ALL_LINES_UP_TO, SNAPSHOT_BUCKETS) ?? { records: [], lines: 0 };
      this.sent.set(dir, lines);
      // A whole history is followed line by line from its end; a reduced one too, until it outgrows the limit again.
      this.reducedAt.set(dir, lines > records.length ? lines : 0);
      return { dir, records, lines };
    });
    this.channel.post({ type: 'snapshot', runs: headers, metrics });
    this.log.appendLine(`[dashboard] snapshot sent: ${metrics.map((m) => `${basename(m.dir)} ${m.lines ?? 0} lines${(m.lines ?? 0) > m.records.length ? ` (reduced to ${m.records.length})` : ''}${this.store.metricsHistory(m.dir) ? '' : ' (history not read yet)'}`).join(', ')}`);
    this.snapshotSent = true;
    for (const dir of this.dirs) {
      const step = this.links.markerOf(dir);
      if (step !== null) this.channel.post({ type: 'marker', dir, step });
    }
    this.skippedKey = '';
    this.postSkipped();
  }

  private skippedKey = '';

  /** The lines each run's metrics file could not give, when that changed: the view says so. */
  private postSkipped(): void {
    const skipped: SkippedLines[] = [];
    for (const dir of this.dirs) {
      const report = this.store.metricsSkips(dir);
      if (report) skipped.push({ dir, file: RUN_FOLDER.metrics, ...report });
    }
    const key = JSON.stringify(skipped);
    if (key === this.skippedKey) return;
    this.skippedKey = key;
    this.channel.post({ type: 'skipped', skipped });
  }

  private async handle(message: DashboardToHost): Promise<void> {
    switch (message.type) {
      case 'requestSnapshot':
        this.log.appendLine(`[dashboard] the webview asked for a snapshot: ${message.reason}`);
        await this.sendSnapshot();
        return;
      case 'command': {
        // The webview names a run; only the runs this panel shows are accepted.
        if (!this.shown.has(message.dir)) {
          this.log.appendLine(`[dashboard] refused a command for a run this panel does not show: ${message.dir}`);
          return;
        }
        const state = await runState(this.store, message.dir);
        const command = { stop: COMMANDS.stopRun, resume: COMMANDS.resumeRun, openSamples: COMMANDS.openSamples, revealFolder: COMMANDS.revealRunFolder }[message.command];
        await vscode.commands.executeCommand(command, state);
        return;
      }
      case 'openMetricsFile': {
        if (!this.shown.has(message.dir)) {
          this.log.appendLine(`[dashboard] refused to open a file of a run this panel does not show: ${message.dir}`);
          return;
        }
        const line = new vscode.Position(message.line - 1, 0);
        await vscode.window.showTextDocument(vscode.Uri.file(join(message.dir, RUN_FOLDER.metrics)),
          { selection: new vscode.Range(line, line), preview: true });
        return;
      }
      case 'openSamplesAt':
        if (!this.shown.has(message.dir)) {
          this.log.appendLine(`[dashboard] refused to open samples of a run this panel does not show: ${message.dir}`);
          return;
        }
        this.links.openSamplesAt(message.dir, message.step);
        return;
      case 'exportCsv':
        await exportFile(this.dirs[0], message.fileName, Buffer.from(message.content, 'utf8'), 'CSV');
        return;
      case 'exportPng':
        await exportFile(this.dirs[0], message.fileName, Buffer.from(message.dataUrl.slice('data:image/png;base64,'.length), 'base64'), 'PNG');
        return;
      default:
        return;
    }
  }

  dispose(): void {
    DashboardPanel.open.delete(this.dirs.join('\n'));
    for (const disposable of this.disposables) disposable.dispose();
    this.disposables.length = 0;
  }
}
