/**
 * Sweeps in the editor: the "Start Sweep" CodeLens on *.sweep.json, Start / Stop / Resume Sweep
 * (the trainer's `sweep` command as a detached child process), and where their runs live: each
 * sweep's folder under `.bond/sweeps/<name>` holds `runs/`, which the run store watches like the
 * runs directory, so every trial's run is listed (grouped under its sweep in the runs view).
 */
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import * as vscode from 'vscode';
import { COMMANDS } from './commandIds';
import { runsDirectory, workspaceTrusted, type Services } from './commands';
import { isPidAlive } from './core/process';
import { isSweepGroup, readRecord, SWEEP_GLOB, SWEEP_RECORD, sweepFolderFor, sweepFolders, sweepGroupAt, sweepsDirectory, type SweepGroup } from './core/sweepFolders';

export class SweepCodeLens implements vscode.CodeLensProvider {
  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    return [new vscode.CodeLens(new vscode.Range(0, 0, 0, 0), { title: '$(beaker) Start Sweep', command: COMMANDS.startSweep, arguments: [document.uri] })];
  }
}

/** Start (or, given a stopped sweep of the runs view, resume) a sweep; its trials show up in the runs view. */
async function startSweep(services: Services, argument?: unknown, options?: unknown): Promise<void> {
  if (!workspaceTrusted()) return;
  const maxTrials = typeof options === 'object' && options !== null && Number.isInteger((options as { maxTrials?: unknown }).maxTrials)
    ? (options as { maxTrials: number }).maxTrials : undefined;
  const resume = isSweepGroup(argument);
  const file = resume ? argument.sweepFile : argument instanceof vscode.Uri ? argument.fsPath : await pickSweepFile();
  if (!file) {
    if (resume) void vscode.window.showErrorMessage(`BOND: ${argument.folder}/sweep.json names no sweep file to resume with.`);
    return;
  }
  const uri = vscode.Uri.file(file);
  const workspace = vscode.workspace.getWorkspaceFolder(uri) ?? vscode.workspace.workspaceFolders?.[0];
  if (!workspace) return;
  const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (document?.isDirty) await document.save();
  const folder = resume ? argument.folder : sweepFolderFor(file, sweepsDirectory(runsDirectory(workspace)));
  if (!resume && existsSync(join(folder, SWEEP_RECORD))) {
    const choice = await vscode.window.showWarningMessage(`BOND: ${basename(folder)} has run before. Continue it (its study and runs), or stop?`,
      { modal: true }, 'Continue');
    if (choice !== 'Continue') return;
  }
  try {
    const sweep = await services.manager.startSweep(file, folder, workspace.uri.fsPath, resume || existsSync(join(folder, SWEEP_RECORD)), maxTrials);
    const channel = services.runOutput(folder, `sweep ${basename(folder)}`);
    channel.appendLine(`[${new Date().toLocaleTimeString()}] sweep started, pid ${sweep.pid}: ${folder}`);
    sweep.output.event(({ text }) => channel.append(text));
    void sweep.exited.then(async ({ code, stderrTail }) => {
      channel.appendLine(`[${new Date().toLocaleTimeString()}] sweep exited ${code}`);
      await services.store.refresh();
      if (code === 0) {
        const stopped = readRecord(folder)?.status === 'stopped';
        void vscode.window.showInformationMessage(stopped
          ? `BOND: sweep ${basename(folder)} stopped; its trials checkpointed. Start Sweep on it in the runs view resumes them.`
          : `BOND: sweep ${basename(folder)} finished (its output lists every trial and the best).`, 'Show Output')
          .then((c) => c && channel.show(true));
        return;
      }
      const choice = await vscode.window.showErrorMessage(`BOND: sweep ${basename(folder)} ${code === 2 ? 'did not start' : 'ended with failed trials'}: `
        + `${stderrTail.trim().split('\n').slice(-3).join(' ')}`, 'Show Output', 'Open Sweep File');
      if (choice === 'Show Output') channel.show(true);
      if (choice === 'Open Sweep File') await vscode.window.showTextDocument(uri);
    });
    const started = maxTrials !== undefined ? `continued to ${maxTrials} configurations` : resume ? 'resumed' : 'started';
    void vscode.window.showInformationMessage(`BOND: sweep ${basename(folder)} ${started}; its trials appear in the runs view as they start.`, 'Open Sweep View')
      .then((choice) => choice && vscode.commands.executeCommand(COMMANDS.openSweep, sweepGroupAt(folder, [])));
    await services.store.refresh();
  } catch (error) {
    void vscode.window.showErrorMessage(`BOND: ${(error as Error).message}`);
  }
}

async function pickSweepFile(): Promise<string | undefined> {
  const active = vscode.window.activeTextEditor?.document;
  if (active?.uri.scheme === 'file' && active.fileName.endsWith('.sweep.json')) return active.fileName;
  const files = await vscode.workspace.findFiles(SWEEP_GLOB, '**/{node_modules,.bond,.venv}/**', 200);
  if (!files.length) {
    void vscode.window.showErrorMessage('BOND: no *.sweep.json in this workspace (docs/sweeps.md in BOND Studio\'s repository describes one).');
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(files.map((f) => ({ label: basename(f.fsPath), description: vscode.workspace.asRelativePath(f), uri: f })),
    { title: 'BOND: Start Sweep', placeHolder: 'the sweep file' });
  return picked?.uri.fsPath;
}

/** Stop a sweep: SIGINT to its process, which stops its trials with a checkpoint each (Resume continues them). */
async function stopSweep(services: Services, argument?: unknown): Promise<void> {
  // from the palette: the running sweep, or one picked among several
  const folder = isSweepGroup(argument) ? argument.folder : await pickSweepFolder(undefined, (group) => group.active, 'stop');
  if (!folder) return;
  const name = isSweepGroup(argument) ? argument.name : sweepGroupAt(folder, []).name;
  const record = readRecord(folder);
  const pid = typeof record?.pid === 'number' ? record.pid : 0;
  if (!pid || !isPidAlive(pid)) {
    void vscode.window.showInformationMessage(`BOND: sweep ${name} is not running.`);
    return;
  }
  try {
    process.kill(pid, 'SIGINT');
    void vscode.window.showInformationMessage(`BOND: stopping sweep ${name} (each running trial finishes its step and checkpoints).`);
  } catch (error) {
    void vscode.window.showErrorMessage(`BOND: cannot stop sweep ${name}: ${(error as Error).message}`);
  }
  void services.store.refresh();
}

/** The sweep to open: a sweep of the runs view, or one picked from the workspace's sweep folders. */
export async function pickSweepFolder(argument?: unknown, wanted: (group: SweepGroup) => boolean = () => true,
  verb = 'open'): Promise<string | undefined> {
  if (isSweepGroup(argument)) return argument.folder;
  const groups = (vscode.workspace.workspaceFolders ?? []).flatMap((w) => sweepFolders(sweepsDirectory(runsDirectory(w))))
    .map((folder) => sweepGroupAt(folder, [])).filter(wanted);
  if (!groups.length) {
    void vscode.window.showInformationMessage(verb === 'stop' ? 'BOND: no sweep is running.'
      : 'BOND: no sweep has run in this workspace yet (Start Sweep on a *.sweep.json starts one).');
    return undefined;
  }
  if (groups.length === 1) return groups[0]!.folder;
  const picked = await vscode.window.showQuickPick(groups.map((group) => ({
    label: group.name, description: group.active ? 'running' : String(readRecord(group.folder)?.status ?? ''), detail: group.folder, folder: group.folder,
  })), { title: `BOND: the sweep to ${verb}`, placeHolder: 'the sweep' });
  return picked?.folder;
}

export function registerSweeps(services: Services): vscode.Disposable[] {
  return [
    vscode.commands.registerCommand(COMMANDS.startSweep, (argument?: unknown, options?: unknown) => startSweep(services, argument, options)),
    vscode.commands.registerCommand(COMMANDS.stopSweep, (argument?: unknown) => stopSweep(services, argument)),
    vscode.languages.registerCodeLensProvider({ pattern: SWEEP_GLOB }, new SweepCodeLens()),
  ];
}
