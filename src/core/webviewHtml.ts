/**
 * The HTML shell of every BOND webview (no vscode import, so the browser tests build the very same
 * page). The CSP allows nothing by default: scripts only with this page's nonce, styles, fonts and
 * images only from the extension's own resources (plus data: images for canvas exports).
 */
import { randomBytes } from 'crypto';

export type WebviewName = 'dashboard' | 'samples' | 'inspector' | 'playground' | 'sweep' | 'experiments';

export interface WebviewPage {
  name: WebviewName;
  title: string;
  /** webview.cspSource: the origin VS Code serves local resources from */
  cspSource: string;
  /** URIs (as strings) of dist/webview/<name>.js and the stylesheets */
  scriptUri: string;
  styleUris: string[];
  nonce?: string;
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

const escapeAttribute = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
}

export function renderWebviewHtml(page: WebviewPage): string {
  const nonce = page.nonce ?? makeNonce();
  const styles = page.styleUris.map((uri) => `<link rel="stylesheet" href="${escapeAttribute(uri)}">`).join('\n    ');
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <meta http-equiv="Content-Security-Policy" content="${escapeAttribute(contentSecurityPolicy(page.cspSource, nonce))}">
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
    ${styles}
    <title>${escapeAttribute(page.title)}</title>
  </head>
  <body data-webview="${page.name}">
    <script nonce="${nonce}" src="${escapeAttribute(page.scriptUri)}"></script>
  </body>
</html>`;
}

/** The stylesheets each webview loads, relative to the extension root. */
export function webviewAssets(name: WebviewName): { script: string; styles: string[] } {
  const styles = ['media/webview.css'];
  if (name === 'dashboard') styles.unshift('dist/webview/uPlot.min.css');
  return { script: `dist/webview/${name}.js`, styles };
}
