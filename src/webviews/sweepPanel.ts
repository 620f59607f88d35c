/**
 * The Sweep view's host side: one panel per sweep folder. It sends the whole sweep (sweep.json,
 * analysis.json and its trials' runs as the store reads them) whenever one of its runs changes or
 * either file is rewritten, at most a few times a second.
 */
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as vscode from 'vscode';
import { parseSweepMessage, type HostToSweep, type SweepToHost, type SweepView } from '../../contracts/webviews/sweep';
import { COMMANDS } from '../commandIds';
import type { RunStore } from '../core/runStore';
import { readSweepView, SWEEP_ANALYSIS } from '../core/sweepAnalysis';
import { sweepFolderOf, sweepGroupAt, SWEEP_RECORD } from '../core/sweepFolders';
import { setWebviewHtml, WebviewChannel, webviewOptions } from './channel';

export const SWEEP_VIEW_TYPE = 'bond.sweep';
/** how often the panel looks at sweep.json and analysis.json (the trainer rewrites them; runs are watched by the store) */
const FILE_POLL_MS = 1_500;
const MIN_SNAPSHOT_GAP_MS = 400;

export interface SweepPanelServices {
  extensionUri: vscode.Uri;
  store: RunStore;
  log: vscode.OutputChannel;
  openRuns(dirs: string[]): void;
  openSamples(dir: string): void;
}

export class SweepPanel implements vscode.Disposable {
  private static readonly open = new Map<string, SweepPanel>();
  private readonly channel: WebviewChannel<HostToSweep, SweepToHost>;
  private readonly disposables: vscode.Disposable[] = [];
  private view: SweepView | undefined;
  private filesKey = '';
  private timer: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;
  private lastSent = 0;

  static show(services: SweepPanelServices, folder: string): SweepPanel {
    const existing = SweepPanel.open.get(folder);
    if (existing) {
      existing.panel.reveal(undefined, false);
      return existing;
    }
    const panel = vscode.window.createWebviewPanel(SWEEP_VIEW_TYPE, 'BOND sweep', vscode.ViewColumn.Active,
      { ...webviewOptions(services.extensionUri), retainContextWhenHidden: false });
    return new SweepPanel(panel, services, folder);
  }

  constructor(readonly panel: vscode.WebviewPanel, private readonly services: SweepPanelServices, readonly folder: string) {
    SweepPanel.open.set(folder, this);
    panel.iconPath = vscode.Uri.joinPath(services.extensionUri, 'media', 'bond.svg');
    panel.webview.options = webviewOptions(services.extensionUri);
    this.channel = new WebviewChannel(panel.webview, parseSweepMessage, {
      onReady: () => this.sendNow(),
      onMessage: (message) => void this.handle(message),
    }, services.log);
    setWebviewHtml(panel.webview, services.extensionUri, 'sweep', 'BOND sweep');
    this.disposables.push(
      this.channel,
      services.store.onDidChangeRuns((runs) => {
        if (runs.some((run) => { const of = sweepFolderOf(run); return of !== undefined && resolve(of) === resolve(folder); })) this.schedule();
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    this.timer = setInterval(() => {
      if (this.readFilesKey() !== this.filesKey) this.schedule();
    }, FILE_POLL_MS);
    this.updateTitle();
  }

  private readFilesKey(): string {
    return [SWEEP_RECORD, SWEEP_ANALYSIS].map((file) => {
      try {
        const stat = statSync(join(this.folder, file));
        return `${stat.mtimeMs}:${stat.size}`;
      } catch {
        return '-';
      }
    }).join('|');
  }

  private updateTitle(): void {
    this.panel.title = `BOND sweep: ${this.view?.name ?? sweepGroupAt(this.folder, []).name}`;
  }

  /** A snapshot soon: changes that come together (every seed's step) make one. */
  private schedule(): void {
    if (this.pending) return;
    const wait = Math.max(0, this.lastSent + MIN_SNAPSHOT_GAP_MS - Date.now());
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.sendNow();
    }, wait);
  }

  private sendNow(): void {
    this.filesKey = this.readFilesKey();
    this.view = readSweepView(this.folder, this.services.store.runs);
    this.lastSent = Date.now();
    this.updateTitle();
    this.channel.post({ type: 'snapshot', sweep: this.view });
  }

  /** The runs a message names, when every one is a run of this sweep (the webview is not trusted). */
  private ownRuns(dirs: string[]): string[] | undefined {
    const known = new Set(this.view?.trials.flatMap((t) => t.seeds.map((s) => s.dir)) ?? []);
    if (dirs.every((dir) => known.has(dir))) return dirs;
    this.services.log.appendLine(`[sweep] refused runs that are not this sweep's: ${dirs.join(', ')}`);
    return undefined;
  }

  private async handle(message: SweepToHost): Promise<void> {
    const group = (): ReturnType<typeof sweepGroupAt> => sweepGroupAt(this.folder, []);
    switch (message.type) {
      case 'requestSnapshot':
        this.sendNow();
        return;
      case 'command':
        if (message.command === 'stop') await vscode.commands.executeCommand(COMMANDS.stopSweep, group());
        if (message.command === 'resume') await vscode.commands.executeCommand(COMMANDS.startSweep, group());
        if (message.command === 'revealFolder') await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(join(this.folder, SWEEP_RECORD)));
        this.schedule();
        return;
      case 'addTrials': {
        const total = (this.view?.maxTrials ?? this.view?.trials.length ?? 0) + message.count;
        await vscode.commands.executeCommand(COMMANDS.startSweep, group(), { maxTrials: total });
        this.schedule();
        return;
      }
      case 'openRuns': {
        const dirs = this.ownRuns(message.dirs);
        if (dirs) this.services.openRuns(dirs);
        return;
      }
      case 'openSamples':
        if (this.ownRuns([message.dir])) this.services.openSamples(message.dir);
        return;
      default:
        return;
    }
  }

  dispose(): void {
    SweepPanel.open.delete(this.folder);
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    for (const disposable of this.disposables) disposable.dispose();
    this.disposables.length = 0;
  }
}
