/** The samples panel's host side (one run), and the focus it shares with the side-panel inspector. */
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import { RUN_FOLDER, type SampleRecord } from '../../contracts/run-directory';
import {
  isSameKey, parseSamplesMessage, type HostToSamples, type SampleKey, type SamplesToHost,
} from '../../contracts/webviews/samples';
import { runLabel, type RunStore } from '../core/runStore';
import { fromGuard } from '../core/readers';
import { isSampleRecord } from '../core/schemas';
import { toSamplesRun } from '../core/webviewModels';
import { closeTabs, setWebviewHtml, unrevivedTabs, WebviewChannel, webviewOptions } from './channel';
import { RecordStream, runState } from './runSource';
import { COMMANDS } from '../commandIds';
import { reach } from '../milestones';
import type { ViewLinks } from './links';

export const SAMPLES_VIEW_TYPE = 'bond.samples';

export interface SampleFocus {
  panel: SamplesPanel;
  key: SampleKey;
  order: SampleKey[];
}

/** The row under focus in the most recently used samples panel; the inspector shows it. */
export class FocusModel implements vscode.Disposable {
  private current: SampleFocus | undefined;
  private readonly emitter = new vscode.EventEmitter<SampleFocus | undefined>();
  readonly onDidChange = this.emitter.event;

  get focus(): SampleFocus | undefined {
    return this.current;
  }

  set(focus: SampleFocus | undefined): void {
    this.current = focus;
    this.emitter.fire(focus);
  }

  /** previous/next in the panel's current order (sort and filter as the user sees them) */
  navigate(delta: 1 | -1): void {
    const focus = this.current;
    if (!focus) return;
    const index = focus.order.findIndex((key) => isSameKey(key, focus.key));
    const next = focus.order[Math.min(focus.order.length - 1, Math.max(0, index + delta))];
    if (!next) return;
    this.set({ ...focus, key: next });
    focus.panel.reveal(next, false);
  }

  dispose(): void {
    this.emitter.dispose();
  }
}

const samplesTitle = (label: string): string => `BOND samples: ${label}`;

export class SamplesPanel implements vscode.Disposable {
  private static readonly open = new Map<string, SamplesPanel>();
  private stream: RecordStream<SampleRecord>;
  private records: SampleRecord[] = [];
  private resumeCount: number | undefined;
  private readonly channel: WebviewChannel<HostToSamples, SamplesToHost>;
  private readonly disposables: vscode.Disposable[] = [];
  private pumping: Promise<void> = Promise.resolve();
  /** the run's name from run.json (the panel title carries it too) */
  runName: string;

  /** Show a run's samples; `beside`: next to the active editor (opened from a dashboard chart). */
  static show(extensionUri: vscode.Uri, store: RunStore, focus: FocusModel, links: ViewLinks, log: vscode.OutputChannel, dir: string,
    beside = false): SamplesPanel {
    const existing = SamplesPanel.open.get(dir);
    if (existing) {
      // From a dashboard: a hidden samples panel moves beside it (a visible one stays where it is).
      existing.panel.reveal(beside && !existing.panel.visible ? vscode.ViewColumn.Beside : undefined, beside);
      return existing;
    }
    const known = store.get(dir);
    const stale = unrevivedTabs(SAMPLES_VIEW_TYPE, samplesTitle(known ? runLabel(known) : basename(dir)));
    const panel = vscode.window.createWebviewPanel(SAMPLES_VIEW_TYPE, 'BOND samples', beside ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active,
      webviewOptions(extensionUri));
    closeTabs(stale, log);
    return new SamplesPanel(panel, extensionUri, store, focus, links, log, dir);
  }

  static find(dir: string): SamplesPanel | undefined {
    return SamplesPanel.open.get(dir);
  }

  constructor(readonly panel: vscode.WebviewPanel, extensionUri: vscode.Uri, private readonly store: RunStore,
    private readonly focus: FocusModel, private readonly links: ViewLinks, private readonly log: vscode.OutputChannel, readonly dir: string) {
    SamplesPanel.open.set(dir, this);
    reach('samples');
    this.runName = basename(dir);
    this.stream = RecordStream.of(dir, RUN_FOLDER.samples, fromGuard(isSampleRecord, isSampleRecord.errors));
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'bond.svg');
    panel.webview.options = webviewOptions(extensionUri);
    this.channel = new WebviewChannel(panel.webview, parseSamplesMessage, {
      onReady: () => void this.queue(() => this.sendSnapshot()),
      onMessage: (message) => void this.handle(message),
    }, log);
    setWebviewHtml(panel.webview, extensionUri, 'samples', 'BOND samples');
    this.disposables.push(
      this.channel,
      store.onDidChangeRuns((runs) => {
        const run = runs.find((r) => r.dir === dir);
        if (!run) return;
        const resumed = this.resumeCount !== undefined && this.resumeCount !== run.meta.resume_count;
        this.resumeCount = run.meta.resume_count;
        void this.queue(() => (resumed ? this.sendSnapshot() : this.sendNew()));
      }),
      panel.onDidDispose(() => this.dispose()),
    );
    void runState(store, dir).then((state) => {
      this.runName = state ? runLabel(state) : this.runName;
      panel.title = samplesTitle(this.runName);
    });
  }

  private queue(work: () => Promise<void>): Promise<void> {
    this.pumping = this.pumping.then(work).catch((error: unknown) => this.log.appendLine(`[samples] update failed: ${String(error)}`));
    return this.pumping;
  }

  private async run(): Promise<ReturnType<typeof toSamplesRun> | undefined> {
    const state = await runState(this.store, this.dir);
    if (!state) return undefined;
    this.resumeCount ??= state.meta.resume_count;
    return toSamplesRun(this.dir, state.meta, state.status, runLabel(state));
  }

  private async sendSnapshot(): Promise<void> {
    this.stream.restart();
    this.records = (await this.stream.read()).records;
    const run = await this.run();
    if (run) this.channel.post({ type: 'snapshot', run, records: this.records });
    if (this.pendingStep !== undefined) {
      this.channel.post({ type: 'showStep', step: this.pendingStep });
      this.pendingStep = undefined;
    }
    this.skippedKey = '';
    this.postSkipped();
  }

  private skippedKey = '';

  /** Lines of samples.jsonl the reader could not use, when that changed: the view says so. */
  private postSkipped(): void {
    const report = this.stream.skips;
    const skipped = report ? [{ dir: this.dir, file: RUN_FOLDER.samples, ...report }] : [];
    const key = JSON.stringify(skipped);
    if (key === this.skippedKey) return;
    this.skippedKey = key;
    this.channel.post({ type: 'skipped', skipped });
  }

  private async sendNew(): Promise<void> {
    if (!this.channel.isReady) return;
    const { records, reset } = await this.stream.read();
    if (reset) {
      await this.sendSnapshot();
      return;
    }
    if (records.length) {
      this.records.push(...records);
      this.channel.post({ type: 'append', records });
    }
    const run = await this.run();
    if (run) this.channel.post({ type: 'run', run });
    this.postSkipped();
  }

  record(key: SampleKey): SampleRecord | undefined {
    return this.records.find((r) => r.step === key.step && r.prompt_id === key.promptId);
  }

  /** Show the snapshot nearest a step (a dashboard point was clicked). */
  showStep(step: number): void {
    // A hidden panel's page is gone (no retainContextWhenHidden) and comes back with a new snapshot
    // when revealed: the step goes after it. A new panel likewise.
    if (this.channel.isReady && this.panel.visible) this.channel.post({ type: 'showStep', step });
    else this.pendingStep = step;
  }

  private pendingStep: number | undefined;

  /** Select a row in the webview (from the inspector or a command). */
  reveal(key: SampleKey, show: boolean): void {
    if (show) this.panel.reveal(undefined, false);
    this.channel.post({ type: 'reveal', key });
  }

  private async handle(message: SamplesToHost): Promise<void> {
    switch (message.type) {
      case 'requestSnapshot':
        this.log.appendLine(`[samples] the webview asked for a snapshot: ${message.reason}`);
        await this.queue(() => this.sendSnapshot());
        return;
      case 'focus':
        if (this.record(message.key)) this.focus.set({ panel: this, key: message.key, order: message.order });
        return;
      case 'stepShown':
        this.links.stepShown({ dir: this.dir, step: message.step });
        return;
      case 'openSamplesFile': {
        const line = new vscode.Position(message.line - 1, 0);
        await vscode.window.showTextDocument(vscode.Uri.file(join(this.dir, RUN_FOLDER.samples)),
          { selection: new vscode.Range(line, line), preview: true });
        return;
      }
      case 'command': {
        const state = await runState(this.store, this.dir);
        const command = { openDashboard: COMMANDS.openDashboard, stop: COMMANDS.stopRun, resume: COMMANDS.resumeRun }[message.command];
        await vscode.commands.executeCommand(command, state);
        return;
      }
      default:
        return;
    }
  }

  dispose(): void {
    SamplesPanel.open.delete(this.dir);
    this.links.stepShown({ dir: this.dir, step: null });
    if (this.focus.focus?.panel === this) this.focus.set(undefined);
    for (const disposable of this.disposables) disposable.dispose();
    this.disposables.length = 0;
  }
}
