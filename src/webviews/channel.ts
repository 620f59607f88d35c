/**
 * The host's end of one webview: the strict-CSP page, the ready handshake, sequence numbers on
 * everything posted, and validation of everything received.
 */
import * as vscode from 'vscode';
import type { Parsed } from '../../contracts/webviews/guards';
import { SequenceCounter } from '../../contracts/webviews/guards';
import { renderWebviewHtml, webviewAssets, type WebviewName } from '../core/webviewHtml';

/** localResourceRoots: the webview may load the build output and media, nothing else. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist', 'webview'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

export function setWebviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, name: WebviewName, title: string): void {
  const assets = webviewAssets(name);
  const uri = (path: string): string => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...path.split('/'))).toString();
  webview.html = renderWebviewHtml({ name, title, cspSource: webview.cspSource, scriptUri: uri(assets.script), styleUris: assets.styles.map(uri) });
}

type Sequenced = { seq: number };
type WithoutSeq<T> = T extends unknown ? Omit<T, 'seq'> : never;

export class WebviewChannel<Out extends Sequenced, In extends { type: string }> implements vscode.Disposable {
  private counter = new SequenceCounter();
  private ready = false;
  private readonly subscription: vscode.Disposable;

  constructor(
    private readonly webview: vscode.Webview,
    parse: (value: unknown) => Parsed<In>,
    private readonly handlers: { onReady(): void; onMessage(message: In): void },
    private readonly log: vscode.OutputChannel,
  ) {
    this.subscription = webview.onDidReceiveMessage((value: unknown) => {
      const parsed = parse(value);
      if (!parsed.ok) {
        this.log.appendLine(`[webview] refused a message: ${parsed.reason}`);
        return;
      }
      if (parsed.value.type === 'ready') {
        // A (re)loaded webview starts counting afresh and needs a full snapshot; a view that says
        // ready again got none (it repeats until one arrives).
        if (this.ready) this.log.appendLine('[webview] ready again (the view was reloaded, or has had no snapshot yet): sending one');
        this.counter = new SequenceCounter();
        this.ready = true;
        this.handlers.onReady();
        return;
      }
      this.handlers.onMessage(parsed.value);
    });
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** Post when the webview is ready; before that, the snapshot sent on ready covers it. */
  post(message: WithoutSeq<Out>): void {
    if (!this.ready) return;
    void this.webview.postMessage({ ...message, seq: this.counter.take() });
  }

  dispose(): void {
    this.subscription.dispose();
  }
}

/**
 * Tabs of `viewType` titled `title` that VS Code restored after a window reload but has not revived:
 * it revives a webview tab only when it is shown, so a view opened again for the same run would make
 * a second tab beside it. Taken before the new panel exists; close them once it does.
 */
export function unrevivedTabs(viewType: string, title: string): vscode.Tab[] {
  return vscode.window.tabGroups.all.flatMap((group) => group.tabs).filter((tab) =>
    tab.input instanceof vscode.TabInputWebview && tab.input.viewType.endsWith(viewType) && tab.label === title);
}

export function closeTabs(tabs: vscode.Tab[], log: vscode.OutputChannel): void {
  if (!tabs.length) return;
  vscode.window.tabGroups.close(tabs, true).then(undefined, (error: unknown) => log.appendLine(`[views] could not close a restored tab: ${String(error)}`));
}
