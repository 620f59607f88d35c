/** Colours from the VS Code theme (the --vscode-* variables the editor sets on the webview body). */

const css = (name: string, fallback: string): string =>
  getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;

export interface ThemeColours {
  foreground: string;
  grid: string;
  background: string;
}

export function themeColours(): ThemeColours {
  return {
    foreground: css('--vscode-foreground', '#cccccc'),
    grid: css('--vscode-editorWidget-border', css('--vscode-panel-border', 'rgba(128,128,128,0.35)')),
    background: css('--vscode-editor-background', '#1e1e1e'),
  };
}

/** Chart palettes: VS Code's chart colours first (they follow the theme), then fixed ones. */
export function palette(): string[] {
  return [
    css('--vscode-charts-blue', '#3794ff'),
    css('--vscode-charts-orange', '#d18616'),
    css('--vscode-charts-green', '#89d185'),
    css('--vscode-charts-purple', '#b180d7'),
    css('--vscode-charts-red', '#f14c4c'),
    css('--vscode-charts-yellow', '#cca700'),
    '#17becf', '#e377c2', '#7f7f7f', '#bcbd22',
  ];
}

/** Calls back when VS Code switches theme (it swaps the body's vscode-light/dark/high-contrast class). */
export function onThemeChange(callback: () => void): void {
  new MutationObserver(callback).observe(document.body, { attributes: true, attributeFilter: ['class'] });
}
