/**
 * Run configs in the workspace: discovery, the "Start BOND run" CodeLens, Diagnostics from the
 * trainer's own validator (the schema's checks come from VS Code's JSON support through
 * contributes.jsonValidation; the trainer adds the ones a schema cannot express), and New Run Config.
 */
import * as vscode from 'vscode';
import { spanOfField } from './core/fieldRange';
import { validateConfig } from './core/python';
import type { PythonEnvironment } from './environment';
import { COMMANDS } from './commandIds';

export const CONFIG_GLOB = '**/*.bond.json';

export function isConfigDocument(document: vscode.TextDocument): boolean {
  return document.uri.scheme === 'file' && document.fileName.endsWith('.bond.json');
}

export async function findConfigs(): Promise<vscode.Uri[]> {
  return vscode.workspace.findFiles(CONFIG_GLOB, '**/{node_modules,.bond,.venv}/**', 500);
}

export class ConfigCodeLens implements vscode.CodeLensProvider {
  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const top = new vscode.Range(0, 0, 0, 0);
    return [new vscode.CodeLens(top, { title: '$(play) Start BOND run', command: COMMANDS.startRun, arguments: [document.uri] })];
  }
}

export class ConfigDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('bond');
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly python: PythonEnvironment) {
    this.subscriptions.push(
      vscode.workspace.onDidOpenTextDocument((d) => this.schedule(d)),
      vscode.workspace.onDidSaveTextDocument((d) => this.schedule(d)),
      vscode.workspace.onDidCloseTextDocument((d) => this.collection.delete(d.uri)),
      // Trust granted: the trainer's checks can run now on every open config.
      vscode.workspace.onDidGrantWorkspaceTrust(() => vscode.workspace.textDocuments.forEach((d) => this.schedule(d))),
    );
    vscode.workspace.textDocuments.forEach((d) => this.schedule(d));
  }

  private schedule(document: vscode.TextDocument): void {
    if (!isConfigDocument(document)) return;
    const key = document.uri.toString();
    clearTimeout(this.pending.get(key));
    this.pending.set(key, setTimeout(() => void this.validate(document), 300));
  }

  /** Validate the saved file with the trainer; show the problems a schema cannot express. */
  async validate(document: vscode.TextDocument): Promise<vscode.Diagnostic[]> {
    if (!vscode.workspace.isTrusted) {
      // Restricted Mode: schema validation only (VS Code's JSON support); no process is started.
      const note = new vscode.Diagnostic(new vscode.Range(0, 0, 0, 1),
        'BOND: the trainer\'s own checks (files, shapes, packages) run once this workspace is trusted; only the schema is checked now.',
        vscode.DiagnosticSeverity.Information);
      note.source = 'BOND';
      this.collection.set(document.uri, [note]);
      return [note];
    }
    const found = await this.python.resolve();
    if (!found.ok) return [];
    const report = await validateConfig({ python: found.python, trainerDir: this.python.trainerDir }, document.fileName);
    const text = document.getText();
    const diagnostics: vscode.Diagnostic[] = [];
    if (typeof report === 'string') {
      diagnostics.push(new vscode.Diagnostic(new vscode.Range(0, 0, 0, 1), report, vscode.DiagnosticSeverity.Warning));
    } else {
      // Schema and syntax problems are already shown by VS Code's JSON support: one message each.
      for (const problem of report.problems.filter((p) => p.check === 'semantic' || p.check === 'file')) {
        const span = spanOfField(text, problem.field);
        const range = new vscode.Range(document.positionAt(span.offset), document.positionAt(span.offset + span.length));
        const diagnostic = new vscode.Diagnostic(range, `${problem.field ? `${problem.field}: ` : ''}${problem.message}`,
          vscode.DiagnosticSeverity.Error);
        diagnostic.source = 'BOND trainer';
        diagnostics.push(diagnostic);
      }
    }
    this.collection.set(document.uri, diagnostics);
    return diagnostics;
  }

  dispose(): void {
    this.pending.forEach((t) => clearTimeout(t));
    this.collection.dispose();
    this.subscriptions.forEach((s) => s.dispose());
  }
}

// No "$schema": the extension contributes the schema for every *.bond.json (contributes.jsonValidation).
export const NEW_CONFIG_TEMPLATE = `{
  // A J-BOND run: distil Best-of-N of the reference into the policy (see the BOND Studio README).
  "name": "my-jbond-run",
  "algorithm": "jbond",
  // null: a small random byte-level GPT; or a model.pt from \`python -m bond_trainer pretrain\`.
  "policy": {"checkpoint": null},
  "reward": {"type": "sentiment"},
  "data": {"train": ["prompts.jsonl"], "eval_fraction": 0.2},
  "bond": {"beta": 0.5, "anchor": "ema", "ema_eta": 0.02, "gamma": 0.0},
  "train": {"steps": 100, "batch_size": 16, "lr": 0.0003, "device": "auto"},
  "sampling": {"max_new_tokens": 32},
  "eval": {"every": 50, "prompts": 16},
  "checkpoint": {"every": 50}
}
`;

export const NEW_PROMPTS = ['the movie was', 'the food here', 'i think the book is', 'our hotel room was', 'the service felt',
  'honestly the music', 'the ending of the film', 'overall the trip was', 'the staff seemed', 'the coffee tasted']
  .map((prompt) => JSON.stringify({ prompt })).join('\n') + '\n';

export async function newConfig(): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0];
  if (!folder) {
    void vscode.window.showErrorMessage('BOND: open a folder first; run configs live in the workspace.');
    return;
  }
  const name = await vscode.window.showInputBox({
    title: 'New BOND run config', prompt: 'File name (in the workspace folder)', value: 'my-run.bond.json',
    validateInput: (value) => (/^[\w.-]+\.bond\.json$/.test(value) ? undefined : 'a file name ending in .bond.json'),
  });
  if (!name) return;
  const target = vscode.Uri.joinPath(folder.uri, name);
  const prompts = vscode.Uri.joinPath(folder.uri, 'prompts.jsonl');
  const exists = async (uri: vscode.Uri) => vscode.workspace.fs.stat(uri).then(() => true, () => false);
  if (await exists(target)) {
    void vscode.window.showErrorMessage(`BOND: ${name} already exists; choose another name.`);
    return;
  }
  await vscode.workspace.fs.writeFile(target, Buffer.from(NEW_CONFIG_TEMPLATE));
  if (!(await exists(prompts))) await vscode.workspace.fs.writeFile(prompts, Buffer.from(NEW_PROMPTS));
  await vscode.window.showTextDocument(target);
}
