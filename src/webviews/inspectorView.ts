/** The side-panel inspector (a WebviewView in the BOND container): the sample under focus. */
import * as vscode from 'vscode';
import { parseInspectorMessage, type HostToInspector, type InspectorToHost } from '../../contracts/webviews/inspector';
import { setWebviewHtml, WebviewChannel, webviewOptions } from './channel';
import type { FocusModel } from './samplesPanel';

export const INSPECTOR_VIEW_ID = 'bond.inspector';

export class InspectorViewProvider implements vscode.WebviewViewProvider, vscode.Disposable {
  private channel: WebviewChannel<HostToInspector, InspectorToHost> | undefined;
  private readonly subscription: vscode.Disposable;

  constructor(private readonly extensionUri: vscode.Uri, private readonly focus: FocusModel, private readonly log: vscode.OutputChannel) {
    this.subscription = focus.onDidChange(() => this.send());
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    view.webview.options = webviewOptions(this.extensionUri);
    this.channel?.dispose();
    this.channel = new WebviewChannel(view.webview, parseInspectorMessage, {
      onReady: () => this.send(),
      onMessage: (message) => {
        const focus = this.focus.focus;
        if (message.type === 'navigate') this.focus.navigate(message.delta);
        else if (message.type === 'openInSamples' && focus) focus.panel.reveal(focus.key, true);
      },
    }, this.log);
    setWebviewHtml(view.webview, this.extensionUri, 'inspector', 'BOND sample');
    view.onDidDispose(() => {
      this.channel?.dispose();
      this.channel = undefined;
    });
  }

  private send(): void {
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
    this.subscription.dispose();
    this.channel?.dispose();
  }
}
