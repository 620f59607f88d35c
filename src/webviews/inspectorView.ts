/**
 * The BOND side panel (a WebviewView in the BOND container): the sample under focus in a samples
 * panel, and a compact launcher of the playground editor tab.
 */
import * as vscode from 'vscode';
import { parseInspectorMessage, type HostToInspector, type InspectorToHost } from '../../contracts/webviews/inspector';
import { setWebviewHtml, WebviewChannel, webviewOptions } from './channel';
import type { FocusModel } from './samplesPanel';

export const INSPECTOR_VIEW_ID = 'bond.inspector';

export class InspectorViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private channel: WebviewChannel<HostToInspector, InspectorToHost> | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly extensionUri: vscode.Uri, private readonly focus: FocusModel, private readonly log: vscode.OutputChannel,
    private readonly openPlayground: (prompt: string | null) => void) {
    this.subscriptions.push(focus.onDidChange(() => this.sendFocus()));
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    view.webview.options = webviewOptions(this.extensionUri);
    this.channel?.dispose();
    this.channel = new WebviewChannel(view.webview, parseInspectorMessage, {
      onReady: () => this.sendFocus(),
      onMessage: (message) => void this.handle(message),
    }, this.log);
    setWebviewHtml(view.webview, this.extensionUri, 'inspector', 'BOND sample');
    view.onDidDispose(() => {
      this.channel?.dispose();
      this.channel = undefined;
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
      case 'openPlayground':
        this.openPlayground(message.prompt ?? (focus ? focus.panel.record(focus.key)?.prompt ?? null : null));
        return;
      default:
        return;
    }
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
  }
}
