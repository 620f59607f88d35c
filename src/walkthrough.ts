/**
 * The getting-started side: *BOND: Create Demo Workspace* (the demo's configs and prompts copied into
 * a folder, its reference model pretrained there with progress) and the milestones that complete the
 * walkthrough's steps (src/milestones.ts) as context keys.
 */
import { join } from 'node:path';
import * as vscode from 'vscode';
import { COMMANDS } from './commandIds';
import type { Services } from './commands';
import { copyDemoFiles, isDemoWorkspace, pretrainDemoReference } from './demoWorkspace';
import { milestoneContextKey, onMilestone, reach } from './milestones';

async function chooseTarget(): Promise<{ folder: string; open: boolean } | undefined> {
  const current = vscode.workspace.workspaceFolders?.[0];
  if (current) {
    const here = 'Create Here';
    const elsewhere = 'Choose Another Folder…';
    const choice = await vscode.window.showInformationMessage(
      `Create the BOND demo in "${current.name}"? It adds demo.bond.json, demo-composite.bond.json and two prompt files (files already there are kept), `
      + 'and pretrains the demo\'s reference model into build/reference.pt (a small byte-level GPT, about a minute on a CPU).',
      { modal: true }, here, elsewhere);
    if (choice === here) return { folder: current.uri.fsPath, open: false };
    if (choice !== elsewhere) return undefined;
  }
  const picked = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: false,
    title: 'Folder for the BOND demo workspace', openLabel: 'Create Demo Here' });
  return picked?.[0] ? { folder: picked[0].fsPath, open: true } : undefined;
}

async function createDemoWorkspace(services: Services): Promise<void> {
  const target = await chooseTarget();
  if (!target) return;
  const { output } = services;
  try {
    const environment = await services.python.require();
    const { written, kept } = await copyDemoFiles(services.context.extensionPath, target.folder);
    output.appendLine(`[demo] ${target.folder}: wrote ${written.join(', ') || 'nothing'}${kept.length ? `; kept the existing ${kept.join(', ')}` : ''}`);
    const result = await vscode.window.withProgress({
      location: vscode.ProgressLocation.Notification, title: 'BOND: pretraining the demo\'s reference model', cancellable: true,
    }, (progress, token) => {
      let done = 0;
      return pretrainDemoReference(environment, target.folder, ({ step, total }) => {
        progress.report({ message: `step ${step} of ${total}`, increment: ((step - done) / total) * 100 });
        done = step;
      }, (line) => output.appendLine(`[demo] ${line}`), token);
    });
    if (result === 'cancelled') {
      void vscode.window.showWarningMessage('BOND: pretraining was cancelled; the demo files are in place. Run "BOND: Create Demo Workspace" again to finish.');
      return;
    }
    reach('demoWorkspace');
    const config = vscode.Uri.file(join(target.folder, 'demo.bond.json'));
    if (target.open) {
      await vscode.commands.executeCommand('vscode.openFolder', vscode.Uri.file(target.folder), { forceNewWindow: false });
      return;
    }
    await vscode.window.showTextDocument(config, { preview: false });
    void vscode.window.showInformationMessage(`BOND: the demo workspace is ready${result === 'cached' ? ' (its reference model was already there)' : ''}. Start it with the "Start BOND run" lens above the config.`);
  } catch (error) {
    output.appendLine(`[demo] ${(error as Error).message}`);
    void vscode.window.showErrorMessage(`BOND: the demo workspace could not be created: ${(error as Error).message}`, 'Show Output')
      .then((choice) => { if (choice) output.show(true); });
  }
}

export function registerWalkthrough(services: Services): vscode.Disposable[] {
  const { store } = services;
  onMilestone((milestone) => {
    void vscode.commands.executeCommand('setContext', milestoneContextKey(milestone), true);
  });
  // A run that is training or has trained: the "start a run" step is done (reattached runs included).
  const noticeRuns = (): void => {
    if (store.runs.some((run) => run.status === 'running' || run.status === 'starting' || run.status === 'completed')) reach('runStarted');
  };
  // A demo workspace made earlier (or just before Create Demo Workspace reopened the window there).
  const noticeDemo = (): void => {
    if ((vscode.workspace.workspaceFolders ?? []).some((folder) => isDemoWorkspace(folder.uri.fsPath))) reach('demoWorkspace');
  };
  noticeDemo();
  return [
    vscode.workspace.onDidChangeWorkspaceFolders(noticeDemo),
    vscode.commands.registerCommand(COMMANDS.createDemoWorkspace, () => createDemoWorkspace(services)),
    store.onDidChangeRuns(noticeRuns),
    { dispose: () => onMilestone(() => undefined) },
  ];
}
