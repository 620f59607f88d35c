/** BOND Studio's extension host: wires the run store, run manager, views and commands together. */
import * as vscode from 'vscode';
import { registerCommands, runsDirectory, type Services } from './commands';
import { COMMANDS } from './commandIds';
import { ConfigCodeLens, ConfigDiagnostics } from './configs';
import { RunManager } from './core/runManager';
import { RunStore } from './core/runStore';
import { PythonEnvironment } from './environment';
import { notifyRunEndings } from './runEndings';
import { RunsView } from './runsView';
import { RunStatusBar } from './statusBar';
import { registerWebviews } from './webviews';
import { registerWalkthrough } from './walkthrough';
import { registerSweeps } from './sweeps';
import { registerQueue } from './queue';
import { sweepRunsDirectories, sweepsDirectory } from './core/sweepFolders';

export function activate(context: vscode.ExtensionContext): Services {
  const output = vscode.window.createOutputChannel('BOND Studio');
  const python = new PythonEnvironment(context, output);
  // Runs whose run.json says running with a fresh heartbeat are picked up here: that is reattaching.
  // A sweep's trials are runs too: each sweep folder's runs/ is watched beside the runs directory.
  const store = new RunStore({
    runsDirectories: () => (vscode.workspace.workspaceFolders ?? []).map(runsDirectory)
      .flatMap((runs) => [runs, ...sweepRunsDirectories(sweepsDirectory(runs))]),
  });
  const manager = new RunManager(() => python.require());
  const channels = new Map<string, vscode.OutputChannel>();
  const services: Services = {
    context, store, manager, python, output, startedHere: new Set<string>(),
    runOutput(dir, name) {
      let channel = channels.get(dir);
      if (!channel) {
        channel = vscode.window.createOutputChannel(`BOND run: ${name}`);
        channels.set(dir, channel);
        context.subscriptions.push(channel);
      }
      return channel;
    },
  };
  const view = new RunsView(store, () => (vscode.workspace.workspaceFolders ?? []).map(runsDirectory));
  const diagnostics = new ConfigDiagnostics(python);
  context.subscriptions.push(
    output, store, view, new RunStatusBar(store), diagnostics,
    vscode.commands.registerCommand(COMMANDS.installMissingPackages, async (uri?: vscode.Uri) => {
      const target = uri ?? vscode.window.activeTextEditor?.document.uri;
      if (!target) return;
      const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === target.toString());
      let missing = diagnostics.missingPackages(target);
      if (!missing.length) {
        await diagnostics.validate(target, document);
        missing = diagnostics.missingPackages(target);
      }
      if (!missing.length) {
        void vscode.window.showInformationMessage('BOND: this config needs no package the trainer\'s Python lacks.');
        return;
      }
      if (await python.install(missing)) await diagnostics.validate(target, document);
    }),
    notifyRunEndings(store, (dir) => services.startedHere.has(dir)),
    vscode.window.createTreeView('bond.runs', { treeDataProvider: view, showCollapseAll: false, canSelectMany: true }),
    vscode.languages.registerCodeLensProvider({ pattern: '**/*.bond.json' }, new ConfigCodeLens()),
    vscode.workspace.onDidChangeWorkspaceFolders(() => void store.refresh()),
    vscode.workspace.onDidChangeConfiguration((e) => { if (e.affectsConfiguration('bond.runsDirectory')) void store.refresh(); }),
    ...registerCommands(services),
    ...registerSweeps(services),
    ...registerQueue(services),
    ...registerWebviews(services),
    ...registerWalkthrough(services),
  );
  void store.start();
  // Runs keep training when the window closes: they are detached on purpose, so nothing is stopped here.
  return services;
}

export function deactivate(): void {}
