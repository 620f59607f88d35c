/**
 * The trainer's Python as the extension finds it: setting bond.pythonPath, $BOND_PYTHON, the Python
 * extension's interpreter, the workspace's .venv, then a venv this extension made in its storage.
 * "Check Environment" shows what was found and offers the fixes.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { reach } from './milestones';
import type { EnvironmentReport } from '../contracts/trainer-cli';
import {
  bootstrapPython, honoursSafePath, installPackages, resolvePython, type PythonCandidate, type ResolvedPython, type TrainerEnvironment,
} from './core/python';

interface PythonExtensionApi {
  environments?: { getActiveEnvironmentPath(resource?: vscode.Uri): { path: string } | undefined };
}

function venvPython(dir: string): string {
  return process.platform === 'win32' ? join(dir, 'Scripts', 'python.exe') : join(dir, 'bin', 'python');
}

export class PythonEnvironment {
  private resolved: Promise<ResolvedPython> | undefined;

  constructor(private readonly context: vscode.ExtensionContext, private readonly output: vscode.OutputChannel) {
    context.subscriptions.push(vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('bond.pythonPath')) this.resolved = undefined;
    }));
  }

  get trainerDir(): string {
    return join(this.context.extensionPath, 'trainer');
  }

  private get ownVenv(): string {
    return join(this.context.globalStorageUri.fsPath, 'venv');
  }

  async candidates(): Promise<PythonCandidate[]> {
    const out: PythonCandidate[] = [];
    const setting = vscode.workspace.getConfiguration('bond').get<string>('pythonPath', '').trim();
    if (setting) out.push({ source: 'setting bond.pythonPath', path: setting });
    if (process.env.BOND_PYTHON) out.push({ source: '$BOND_PYTHON', path: process.env.BOND_PYTHON });
    const pythonExtension = vscode.extensions.getExtension<PythonExtensionApi>('ms-python.python');
    if (pythonExtension) {
      try {
        const api = pythonExtension.isActive ? pythonExtension.exports : await pythonExtension.activate();
        const active = api.environments?.getActiveEnvironmentPath(vscode.workspace.workspaceFolders?.[0]?.uri);
        if (active?.path) out.push({ source: 'the Python extension', path: active.path });
      } catch {
        // The Python extension is optional.
      }
    }
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      const python = venvPython(join(folder.uri.fsPath, '.venv'));
      if (existsSync(python)) out.push({ source: `${folder.name}/.venv`, path: python });
    }
    if (existsSync(venvPython(this.ownVenv))) out.push({ source: 'BOND Studio venv', path: venvPython(this.ownVenv) });
    return out;
  }

  /**
   * The resolved Python (cached until the setting changes or a refresh is asked for). Every process
   * the extension starts goes through here: in an untrusted workspace nothing is started (the
   * interpreter and the folder it runs in are the workspace's to name).
   */
  resolve(refresh = false): Promise<ResolvedPython> {
    if (!vscode.workspace.isTrusted) return Promise.resolve({ ok: false, problems: [NEEDS_TRUST] });
    if (refresh || !this.resolved) {
      this.resolved = this.candidates().then((candidates) => resolvePython(candidates, this.trainerDir));
      // A failure is not cached: the user may fix it and try again.
      void this.resolved.then((result) => {
        if (result.ok) reach('environment');
        else this.resolved = undefined;
      });
    }
    return this.resolved;
  }

  /** For the run manager: a working environment, or an error that says what to do. */
  async require(): Promise<TrainerEnvironment> {
    if (!vscode.workspace.isTrusted) {
      void offerTrust();
      throw new Error(NEEDS_TRUST);
    }
    const found = await this.resolve();
    if (found.ok) return { python: found.python, trainerDir: this.trainerDir, safePath: honoursSafePath(found.report.python.version) };
    void this.offerFixes(found.problems);
    throw new Error('No Python with torch ≥ 2.1 was found for the trainer. Run "BOND: Check Environment" for the fixes.');
  }

  /**
   * A feature needs optional packages: say so with an Install button that pip-installs them into the
   * interpreter in use (with progress, the bootstrap's pip arguments), then retries. Resolves to
   * true when they were installed and `retry` ran.
   */
  async offerInstall(message: string, install: readonly string[], retry: () => Promise<unknown>): Promise<boolean> {
    const names = install.map((r) => r.replace(/[<>=!~ ;\[].*$/, '')).join(', ');
    const choice = await vscode.window.showErrorMessage(`BOND: ${message}`, `Install ${names}`, 'Show Output');
    if (choice === 'Show Output') this.output.show(true);
    if (choice !== `Install ${names}`) return false;
    if (!(await this.install(install))) return false;
    await retry();
    return true;
  }

  /** pip-install into the interpreter in use, with progress; false (and said) when it failed. */
  async install(install: readonly string[]): Promise<boolean> {
    const found = await this.resolve();
    if (!found.ok) {
      void this.offerFixes(found.problems);
      return false;
    }
    const names = install.map((r) => r.replace(/[<>=!~ ;\[].*$/, '')).join(', ');
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `BOND: installing ${names} into ${found.python}…` },
        () => installPackages(this.context.extensionPath, found.python, install, (text) => this.output.append(text)));
    } catch (error) {
      void vscode.window.showErrorMessage(`BOND: ${(error as Error).message}`, 'Show Output')
        .then((c) => { if (c) this.output.show(true); });
      return false;
    }
    this.resolved = undefined; // its extras changed
    return true;
  }

  async check(): Promise<void> {
    if (!vscode.workspace.isTrusted) return offerTrust();
    const found = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'BOND: checking the trainer’s Python…' },
      () => this.resolve(true));
    if (!found.ok) {
      await this.offerFixes(found.problems);
      return;
    }
    this.output.appendLine(`[check] ${found.source}: ${found.python}`);
    this.output.appendLine(JSON.stringify(found.report, null, 2));
    const choice = await vscode.window.showInformationMessage(describe(found.report, found.source), 'Show Details', 'Pick Interpreter');
    if (choice === 'Show Details') this.output.show(true);
    if (choice === 'Pick Interpreter') await this.pickInterpreter();
  }

  private async offerFixes(problems: string[]): Promise<void> {
    if (!vscode.workspace.isTrusted) return offerTrust();
    for (const problem of problems) this.output.appendLine(`[python] ${problem}`);
    const detail = problems.length ? `Tried: ${problems.join('; ')}.` : 'No interpreter was found.';
    const choice = await vscode.window.showErrorMessage(
      `BOND needs a Python (≥ 3.10) with torch ≥ 2.1 for the trainer. ${detail}`,
      'Set Up a Venv', 'Pick Interpreter', 'Open Setting');
    if (choice === 'Set Up a Venv') await this.setUpVenv();
    if (choice === 'Pick Interpreter') await this.pickInterpreter();
    if (choice === 'Open Setting') await vscode.commands.executeCommand('workbench.action.openSettings', 'bond.pythonPath');
  }

  private async pickInterpreter(): Promise<void> {
    const picked = await vscode.window.showOpenDialog({ title: 'Python interpreter for the BOND trainer', canSelectMany: false });
    if (!picked?.[0]) return;
    await vscode.workspace.getConfiguration('bond').update('pythonPath', picked[0].fsPath, vscode.ConfigurationTarget.Global);
    await this.check();
  }

  private async setUpVenv(): Promise<void> {
    this.output.show(true);
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'BOND: setting up Python (installing torch can take minutes)…' },
        () => bootstrapPython(this.context.extensionPath, this.ownVenv, (text) => this.output.append(text), ['--studio']));
      await this.check();
    } catch (error) {
      void vscode.window.showErrorMessage(`BOND: ${(error as Error).message}`, 'Show Output')
        .then((choice) => { if (choice) this.output.show(true); });
    }
  }
}

export const NEEDS_TRUST = 'BOND starts Python (the trainer, its checks, exports) only in a trusted workspace: '
  + 'the interpreter and the code it runs would be the workspace\'s. Trust the workspace to train; existing runs can be viewed.';

/** Say why nothing ran, with the way to trust the workspace. */
export async function offerTrust(): Promise<void> {
  const choice = await vscode.window.showErrorMessage(`BOND: ${NEEDS_TRUST}`, 'Manage Workspace Trust');
  if (choice) await vscode.commands.executeCommand('workbench.trust.manage');
}

export function describe(report: EnvironmentReport, source: string): string {
  const accelerators = report.devices.filter((d) => d.type !== 'cpu')
    .map((d) => `${d.type.toUpperCase()} ${d.name}${d.bf16 ? ' (bf16)' : ''}`);
  return `BOND: Python ${report.python.version}, torch ${report.torch.version} (${source}). `
    + (accelerators.length ? `Devices: ${accelerators.join(', ')}.` : 'No GPU found: runs use the CPU.');
}
