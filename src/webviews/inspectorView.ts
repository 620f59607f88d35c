/**
 * The BOND side panel (a WebviewView in the BOND container): the sample under focus in a samples
 * panel, and the playground that tries prompts on a run's exported models.
 */
import * as vscode from 'vscode';
import { parseInspectorMessage, type HostToInspector, type InspectorToHost } from '../../contracts/webviews/inspector';
import type { TrainerEnvironment } from '../core/python';
import type { RunStore } from '../core/runStore';
import { InferenceClient } from '../inference/client';
import { setWebviewHtml, WebviewChannel, webviewOptions } from './channel';
import { Playground } from './playground';
import type { FocusModel } from './samplesPanel';

export const INSPECTOR_VIEW_ID = 'bond.inspector';
const REWARD_MODELS_KEY = 'bond.playground.rewardModels';

export class InspectorViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private channel: WebviewChannel<HostToInspector, InspectorToHost> | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly client: InferenceClient;
  private readonly playground: Playground;
  private lastRuns = '';

  constructor(private readonly extensionUri: vscode.Uri, private readonly focus: FocusModel, private readonly store: RunStore,
    environment: () => Promise<TrainerEnvironment>, private readonly log: vscode.OutputChannel, memento: vscode.Memento) {
    this.client = new InferenceClient(vscode.Uri.joinPath(extensionUri, 'dist', 'inferenceWorker.js').fsPath);
    this.playground = new Playground(store, environment, this.client, {
      progress: (phase, done, total) => this.channel?.post({ type: 'playgroundProgress', phase, done, total }),
      status: (message, error) => {
        if (error) this.log.appendLine(`[playground] ${message}`);
        this.channel?.post({ type: 'playgroundStatus', message, error });
      },
      result: (result) => this.channel?.post({ type: 'playgroundResult', result }),
      runsChanged: () => this.sendRuns(true),
    }, {
      get: (dir) => memento.get<Record<string, string>>(REWARD_MODELS_KEY, {})[dir],
      set: (dir, path) => {
        const all = { ...memento.get<Record<string, string>>(REWARD_MODELS_KEY, {}) };
        if (path) all[dir] = path;
        else delete all[dir];
        return memento.update(REWARD_MODELS_KEY, all);
      },
    });
    this.subscriptions.push(focus.onDidChange(() => this.sendFocus()), store.onDidChangeRuns(() => void this.sendRuns(false)));
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    view.webview.options = webviewOptions(this.extensionUri);
    this.channel?.dispose();
    this.channel = new WebviewChannel(view.webview, parseInspectorMessage, {
      onReady: () => {
        this.sendFocus();
        void this.sendRuns(true);
      },
      onMessage: (message) => void this.handle(message),
    }, this.log);
    setWebviewHtml(view.webview, this.extensionUri, 'inspector', 'BOND sample');
    view.onDidDispose(() => {
      this.channel?.dispose();
      this.channel = undefined;
      this.playground.cancel();
    });
  }

  private async handle(message: InspectorToHost): Promise<void> {
    const focus = this.focus.focus;
    switch (message.type) {
      case 'navigate':
        this.focus.navigate(message.delta);
        return;
      case 'openInSamples':
        if (focus) focus.panel.reveal(focus.key, true);
        return;
      case 'generate':
        await this.playground.generate(message.request);
        return;
      case 'cancelGenerate':
        this.playground.cancel();
        return;
      case 'exportModels':
        await this.playground.exportModels(message.dir);
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
    if (!this.channel?.isReady) return;
    const key = JSON.stringify(this.store.runs.map((r) => [r.dir, r.meta.name, r.meta.checkpoints.map((c) => c.step), r.meta.config.reward]));
    if (!force && key === this.lastRuns) return;
    this.lastRuns = key;
    this.channel.post({ type: 'playgroundRuns', runs: await this.playground.runs() });
  }

  private sendFocus(): void {
    const focus = this.focus.focus;
    const record = focus ? focus.panel.record(focus.key) : undefined;
    if (!focus || !record) {
      this.channel?.post({ type: 'focus', focus: null });
      return;
    }
    const index = focus.order.findIndex((key) => key.step === focus.key.step && key.promptId === focus.key.promptId);
    this.channel?.post({
      type: 'focus',
      focus: { dir: focus.panel.dir, runName: focus.panel.runName, bonN: record.bon.n, record, index: Math.max(0, index), count: focus.order.length },
    });
  }

  dispose(): void {
    for (const subscription of this.subscriptions) subscription.dispose();
    this.channel?.dispose();
    void this.client.dispose();
  }
}
