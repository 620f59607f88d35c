/**
 * The experiments table's host side (one panel): every run the store lists, a snapshot on ready and
 * when the varying config fields change, otherwise the changed rows in batches.
 */
import * as vscode from 'vscode';
import { parseExperimentsMessage, type ExperimentsToHost, type HostToExperiments } from '../../contracts/webviews/experiments';
import { ExperimentsModel } from '../core/experiments';
import type { RunState, RunStore } from '../core/runStore';
import { setWebviewHtml, WebviewChannel, webviewOptions } from './channel';

export const EXPERIMENTS_VIEW_TYPE = 'bond.experiments';
/** changed rows go out together: a sweep's trials all step within the same moment */
const BATCH_MS = 300;

export interface ExperimentsServices {
  extensionUri: vscode.Uri;
  store: RunStore;
  log: vscode.OutputChannel;
  openRuns(dirs: string[]): void;
}

export class ExperimentsPanel implements vscode.Disposable {
  private static current: ExperimentsPanel | undefined;
  private readonly channel: WebviewChannel<HostToExperiments, ExperimentsToHost>;
  private readonly model = new ExperimentsModel();
  private readonly disposables: vscode.Disposable[] = [];
  private readonly changed = new Map<string, RunState>();
  private batch: NodeJS.Timeout | undefined;

  static show(services: ExperimentsServices): ExperimentsPanel {
    if (ExperimentsPanel.current) {
      ExperimentsPanel.current.panel.reveal(undefined, false);
      return ExperimentsPanel.current;
    }
    const panel = vscode.window.createWebviewPanel(EXPERIMENTS_VIEW_TYPE, 'BOND experiments', vscode.ViewColumn.Active,
      { ...webviewOptions(services.extensionUri), retainContextWhenHidden: false });
    return new ExperimentsPanel(panel, services);
  }

  constructor(readonly panel: vscode.WebviewPanel, private readonly services: ExperimentsServices) {
    ExperimentsPanel.current = this;
    panel.iconPath = vscode.Uri.joinPath(services.extensionUri, 'media', 'bond.svg');
    panel.webview.options = webviewOptions(services.extensionUri);
    this.channel = new WebviewChannel(panel.webview, parseExperimentsMessage, {
      onReady: () => this.sendSnapshot(),
      onMessage: (message) => this.handle(message),
    }, services.log);
    setWebviewHtml(panel.webview, services.extensionUri, 'experiments', 'BOND experiments');
    this.disposables.push(
      this.channel,
      services.store.onDidChangeRuns((runs) => {
        for (const run of runs) this.changed.set(run.dir, run);
        this.batch ??= setTimeout(() => this.flush(), BATCH_MS);
      }),
      services.store.onDidRemoveRuns((dirs) => {
        if (!this.channel.isReady) return;
        for (const dir of dirs) this.changed.delete(dir);
        if (this.model.updateFields(services.store.runs)) this.sendSnapshot();
        else this.channel.post({ type: 'remove', dirs });
      }),
      panel.onDidDispose(() => this.dispose()),
    );
  }

  private flush(): void {
    this.batch = undefined;
    if (!this.channel.isReady || !this.changed.size) return;
    const runs = [...this.changed.values()];
    this.changed.clear();
    // a run whose config adds or settles a varying field changes the columns: all rows again
    if (this.model.updateFields(this.services.store.runs)) {
      this.sendSnapshot();
      return;
    }
    this.channel.post({ type: 'upsert', rows: runs.map((run) => this.model.row(run)) });
  }

  private sendSnapshot(): void {
    const runs = this.services.store.runs;
    this.model.updateFields(runs);
    this.changed.clear();
    this.channel.post({ type: 'snapshot', rows: runs.map((run) => this.model.row(run)), fields: this.model.fields });
  }

  private known(dirs: string[]): boolean {
    const ok = dirs.every((dir) => this.services.store.get(dir));
    if (!ok) this.services.log.appendLine(`[experiments] refused runs the store does not list: ${dirs.join(', ')}`);
    return ok;
  }

  private handle(message: ExperimentsToHost): void {
    switch (message.type) {
      case 'requestSnapshot':
        this.sendSnapshot();
        return;
      case 'openDashboard':
        if (this.known([message.dir])) this.services.openRuns([message.dir]);
        return;
      case 'compare':
        if (this.known(message.dirs)) this.services.openRuns(message.dirs);
        return;
      default:
        return;
    }
  }

  dispose(): void {
    if (ExperimentsPanel.current === this) ExperimentsPanel.current = undefined;
    if (this.batch) clearTimeout(this.batch);
    for (const disposable of this.disposables) disposable.dispose();
    this.disposables.length = 0;
  }
}
