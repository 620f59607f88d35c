/**
 * The playground as an editor tab (one per window): the form, the three columns of a try, and the
 * history of tries. The side panel's launcher and *BOND: Open Playground* open it; it owns the
 * inference worker while it is open.
 */
import * as vscode from 'vscode';
import { parsePlaygroundMessage, type HostToPlayground, type PlaygroundToHost } from '../../contracts/webviews/playground';
import type { TrainerEnvironment } from '../core/python';
import { runLabel, type RunStore } from '../core/runStore';
import { InferenceClient } from '../inference/client';
import { setWebviewHtml, WebviewChannel, webviewOptions } from './channel';
import { Playground } from './playground';
import { reach } from '../milestones';

export const PLAYGROUND_VIEW_TYPE = 'bond.playground';
const REWARD_MODELS_KEY = 'bond.playground.rewardModels';

export interface PlaygroundServices {
  extensionUri: vscode.Uri;
  store: RunStore;
  environment: () => Promise<TrainerEnvironment>;
  /** offer to pip-install what a feature needs into the trainer's Python, then retry it */
  offerInstall(message: string, install: readonly string[], retry: () => Promise<void>): Promise<unknown>;
  log: vscode.OutputChannel;
  memento: vscode.Memento;
}

export class PlaygroundPanel implements vscode.Disposable {
  private static current: PlaygroundPanel | undefined;
  private readonly channel: WebviewChannel<HostToPlayground, PlaygroundToHost>;
  private readonly client: InferenceClient;
  private readonly playground: Playground;
  private readonly disposables: vscode.Disposable[] = [];
  private lastRuns = '';
  private pendingPrefill: { dir: string | null; prompt: string | null } | undefined;

  /** Open (or reveal) the playground; `prefill` fills its form with a run and/or a prompt. */
  static show(services: PlaygroundServices, prefill?: { dir?: string; prompt?: string }): PlaygroundPanel {
    let panel = PlaygroundPanel.current;
    if (panel) panel.panel.reveal(undefined, false);
    else {
      const webviewPanel = vscode.window.createWebviewPanel(PLAYGROUND_VIEW_TYPE, 'BOND Playground', vscode.ViewColumn.Active,
        { ...webviewOptions(services.extensionUri), retainContextWhenHidden: true });
      panel = new PlaygroundPanel(webviewPanel, services);
    }
    if (prefill) panel.prefill(prefill.dir ?? null, prefill.prompt ?? null);
    return panel;
  }

  constructor(readonly panel: vscode.WebviewPanel, private readonly services: PlaygroundServices) {
    PlaygroundPanel.current?.panel.dispose(); // one playground tab: a second (restored) one replaces it
    PlaygroundPanel.current = this;
    const { extensionUri, store, memento, log } = services;
    this.client = new InferenceClient(vscode.Uri.joinPath(extensionUri, 'dist', 'inferenceWorker.js').fsPath);
    this.playground = new Playground(store, services.environment, this.client, {
      progress: (phase, done, total) => this.channel.post({ type: 'progress', phase, done, total }),
      status: (message, error) => {
        if (error) log.appendLine(`[playground] ${message}`);
        this.channel.post({ type: 'status', message, error });
      },
      result: (result) => {
        this.channel.post({ type: 'result', result });
        reach('playground');
      },
      runsChanged: () => this.sendRuns(true),
      exported: (dir, step) => this.channel.post({ type: 'prefill', dir, prompt: null, step }),
      needsPackages: (message, install, retry) => void services.offerInstall(message, install, retry),
    }, {
      get: (dir) => memento.get<Record<string, string>>(REWARD_MODELS_KEY, {})[dir],
      set: (dir, path) => {
        const all = { ...memento.get<Record<string, string>>(REWARD_MODELS_KEY, {}) };
        if (path) all[dir] = path;
        else delete all[dir];
        return memento.update(REWARD_MODELS_KEY, all);
      },
    });
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'bond.svg');
    panel.webview.options = webviewOptions(extensionUri);
    this.channel = new WebviewChannel(panel.webview, parsePlaygroundMessage, {
      onReady: () => {
        this.lastRuns = '';
        void this.sendRuns(true).then(() => {
          if (this.pendingPrefill) this.channel.post({ type: 'prefill', ...this.pendingPrefill });
          this.pendingPrefill = undefined;
        });
      },
      onMessage: (message) => void this.handle(message),
    }, log);
    setWebviewHtml(panel.webview, extensionUri, 'playground', 'BOND Playground');
    this.disposables.push(this.channel, store.onDidChangeRuns(() => void this.sendRuns(false)), panel.onDidDispose(() => this.dispose()));
  }

  prefill(dir: string | null, prompt: string | null): void {
    if (this.channel.isReady) this.channel.post({ type: 'prefill', dir, prompt });
    else this.pendingPrefill = { dir, prompt };
  }

  private async handle(message: PlaygroundToHost): Promise<void> {
    switch (message.type) {
      case 'generate':
        await this.playground.generate(message.request);
        return;
      case 'cancelGenerate':
        this.playground.cancel();
        return;
      case 'exportModels':
        await this.playground.exportModels(message.dir, message.step ?? undefined);
        return;
      case 'chooseRewardModel': {
        const picked = await vscode.window.showOpenDialog({ title: 'ONNX reward model for the playground', canSelectMany: false,
          filters: { 'ONNX model': ['onnx'] }, openLabel: 'Use as reward model' });
        if (picked?.[0]) await this.playground.setRewardModel(message.dir, picked[0].fsPath);
        return;
      }
      case 'clearRewardModel':
        await this.playground.setRewardModel(message.dir, undefined);
        return;
      default:
        return;
    }
  }

  /**
   * The runs list goes out when it can have changed: the store reports every heartbeat, but the list
   * depends only on the runs, their checkpoints (exports follow them) and their rewards, so the
   * export folders are read again only then, or when forced (after an export or a reward model choice).
   */
  private async sendRuns(force: boolean): Promise<void> {
    if (!this.channel.isReady) return;
    const store = this.services.store;
    const key = JSON.stringify(store.runs.map((r) => [r.dir, runLabel(r), r.status, r.meta.checkpoints.map((c) => c.step), r.meta.config.reward]));
    if (!force && key === this.lastRuns) return;
    this.lastRuns = key;
    this.channel.post({ type: 'runs', runs: await this.playground.runs() });
  }

  dispose(): void {
    if (PlaygroundPanel.current === this) PlaygroundPanel.current = undefined;
    this.playground.cancel();
    for (const disposable of this.disposables) disposable.dispose();
    this.disposables.length = 0;
    void this.client.dispose();
  }
}
