/** Saving what a webview exports (CSV, PNG): the user picks the file; the webview never names a path. */
import { join } from 'node:path';
import * as vscode from 'vscode';

export async function exportFile(runDir: string | undefined, fileName: string, content: Buffer, kind: 'CSV' | 'PNG'): Promise<void> {
  const base = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? runDir;
  const target = await vscode.window.showSaveDialog({
    defaultUri: base ? vscode.Uri.file(join(base, fileName)) : undefined,
    filters: kind === 'CSV' ? { CSV: ['csv'] } : { PNG: ['png'] },
    title: `Export ${kind}`,
  });
  if (!target) return;
  try {
    await vscode.workspace.fs.writeFile(target, content);
    void vscode.window.showInformationMessage(`BOND: saved ${vscode.workspace.asRelativePath(target)}`);
  } catch (error) {
    void vscode.window.showErrorMessage(`BOND: could not save ${target.fsPath}: ${(error as Error).message}`);
  }
}
