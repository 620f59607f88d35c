/**
 * Run configs in the workspace: discovery, the "Start BOND run" CodeLens, Diagnostics from the
 * trainer's own validator (the schema's checks come from VS Code's JSON support through
 * contributes.jsonValidation; the trainer adds the ones a schema cannot express), and New Run Config.
 */
import * as vscode from 'vscode';
import { spanOfField, spanOfKey } from './core/fieldRange';
import type { ConfigProblem } from '../contracts/trainer-cli';
import { validateConfig } from './core/python';
import type { PythonEnvironment } from './environment';
import { COMMANDS } from './commandIds';

export const CONFIG_GLOB = '**/*.bond.json';
/** what the trainer checks: run configs and sweep files */
const CHECKED_GLOB = '**/*.{bond,sweep}.json';

export function isConfigDocument(document: vscode.TextDocument): boolean {
  return document.uri.scheme === 'file' && document.fileName.endsWith('.bond.json');
}

function isCheckedDocument(document: vscode.TextDocument): boolean {
  return document.uri.scheme === 'file' && (document.fileName.endsWith('.bond.json') || document.fileName.endsWith('.sweep.json'));
}

export async function findConfigs(glob = CONFIG_GLOB): Promise<vscode.Uri[]> {
  return vscode.workspace.findFiles(glob, '**/{node_modules,.bond,.venv}/**', 500);
}

export class ConfigCodeLens implements vscode.CodeLensProvider {
  provideCodeLenses(document: vscode.TextDocument): vscode.CodeLens[] {
    const top = new vscode.Range(0, 0, 0, 0);
    return [
      new vscode.CodeLens(top, { title: '$(play) Start BOND run', command: COMMANDS.startRun, arguments: [document.uri] }),
      new vscode.CodeLens(top, { title: '$(list-ordered) Queue Run', command: COMMANDS.queueRun, arguments: [document.uri] }),
    ];
  }
}

/** At most this many workspace configs are checked from disk at activation (open ones always are). */
const MAX_CONFIGS_CHECKED_AT_START = 50;

/**
 * The trainer's own checks of every config, as Diagnostics that are errors (what the trainer would
 * refuse): as the user types (debounced, on the unsaved text), on save, and at activation for every
 * config in the workspace, so the Problems panel is full again after a window reload. Quick fixes:
 * rename a misspelt key to the trainer's suggestion; install a missing optional package.
 */
export class ConfigDiagnostics implements vscode.Disposable, vscode.CodeActionProvider {
  static readonly SOURCE = 'BOND trainer';
  private readonly collection = vscode.languages.createDiagnosticCollection('bond');
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly subscriptions: vscode.Disposable[] = [];
  /** the problem behind each diagnostic, for its quick fixes */
  private readonly problems = new WeakMap<vscode.Diagnostic, ConfigProblem>();
  /** a newer check of a document supersedes an older one still running */
  private readonly generation = new Map<string, number>();

  constructor(private readonly python: PythonEnvironment) {
    this.subscriptions.push(
      vscode.workspace.onDidOpenTextDocument((d) => this.schedule(d, 50)),
      vscode.workspace.onDidChangeTextDocument((e) => this.schedule(e.document, 600)),
      vscode.workspace.onDidSaveTextDocument((d) => this.schedule(d, 50)),
      // Trust granted: the trainer's checks can run now on every open config.
      vscode.workspace.onDidGrantWorkspaceTrust(() => void this.checkWorkspace()),
      vscode.languages.registerCodeActionsProvider({ pattern: CHECKED_GLOB }, this,
        { providedCodeActionKinds: [vscode.CodeActionKind.QuickFix] }),
    );
    void this.checkWorkspace();
  }

  /** Every open config, then the workspace's configs on disk (what a reload would otherwise lose). */
  private async checkWorkspace(): Promise<void> {
    const open = vscode.workspace.textDocuments.filter(isCheckedDocument);
    for (const document of open) await this.validate(document.uri, document);
    const onDisk = (await findConfigs(CHECKED_GLOB)).filter((uri) => !open.some((d) => d.uri.toString() === uri.toString()));
    for (const uri of onDisk.slice(0, MAX_CONFIGS_CHECKED_AT_START)) await this.validate(uri);
  }

  private schedule(document: vscode.TextDocument, delayMs: number): void {
    if (!isCheckedDocument(document)) return;
    const key = document.uri.toString();
    clearTimeout(this.pending.get(key));
    this.pending.set(key, setTimeout(() => void this.validate(document.uri, document), delayMs));
  }

  /**
   * Check a config with the trainer: the document's current text when it is open (saved or not),
   * else the file. Every problem the trainer would refuse is an error; syntax and schema problems of
   * an open document are shown by VS Code's JSON support too, which is why only the trainer's name
   * on it ("BOND trainer") tells them apart.
   */
  async validate(uri: vscode.Uri, document?: vscode.TextDocument): Promise<vscode.Diagnostic[]> {
    const key = uri.toString();
    const generation = (this.generation.get(key) ?? 0) + 1;
    this.generation.set(key, generation);
    if (!vscode.workspace.isTrusted) {
      // Restricted Mode: schema validation only (VS Code's JSON support); no process is started.
      const note = new vscode.Diagnostic(new vscode.Range(0, 0, 0, 1),
        'BOND: the trainer\'s own checks (files, shapes, packages) run once this workspace is trusted; only the schema is checked now.',
        vscode.DiagnosticSeverity.Information);
      note.source = 'BOND';
      this.collection.set(uri, [note]);
      return [note];
    }
    const found = await this.python.resolve();
    if (!found.ok) return [];
    const text = document ? document.getText() : await readText(uri);
    if (text === undefined) {
      this.collection.delete(uri);
      return [];
    }
    const report = await validateConfig({ python: found.python, trainerDir: this.python.trainerDir }, uri.fsPath, { text });
    if (this.generation.get(key) !== generation) return []; // the user typed on: a newer check is under way
    const position = (offset: number) => (document ? document.positionAt(offset) : positionAt(text, offset));
    const diagnostics: vscode.Diagnostic[] = [];
    if (typeof report === 'string') {
      diagnostics.push(new vscode.Diagnostic(new vscode.Range(0, 0, 0, 1), report, vscode.DiagnosticSeverity.Warning));
    } else {
      const found = [...report.problems.map((p) => ({ problem: p, severity: vscode.DiagnosticSeverity.Error })),
        ...(report.warnings ?? []).map((p) => ({ problem: p, severity: vscode.DiagnosticSeverity.Warning }))];
      for (const { problem, severity } of found) {
        // an unknown key is marked on the key itself (the rename quick fix replaces exactly that)
        const span = problem.line !== null && problem.check === 'syntax'
          ? { offset: offsetOf(text, problem.line, problem.column ?? 1), length: 1 }
          : (problem.rename_to ? spanOfKey(text, problem.field) : undefined) ?? spanOfField(text, problem.field);
        const range = new vscode.Range(position(span.offset), position(span.offset + span.length));
        const diagnostic = new vscode.Diagnostic(range, `${problem.field ? `${problem.field}: ` : ''}${problem.message}`,
          severity);
        diagnostic.source = ConfigDiagnostics.SOURCE;
        diagnostic.code = problem.check;
        this.problems.set(diagnostic, problem);
        diagnostics.push(diagnostic);
      }
    }
    this.collection.set(uri, diagnostics);
    return diagnostics;
  }

  provideCodeActions(document: vscode.TextDocument, _range: vscode.Range, context: vscode.CodeActionContext): vscode.CodeAction[] {
    const actions: vscode.CodeAction[] = [];
    for (const diagnostic of context.diagnostics) {
      const problem = this.problems.get(diagnostic);
      if (!problem) continue;
      if (problem.rename_to) {
        const action = new vscode.CodeAction(`Rename to '${problem.rename_to}'`, vscode.CodeActionKind.QuickFix);
        action.edit = new vscode.WorkspaceEdit();
        action.edit.replace(document.uri, diagnostic.range, JSON.stringify(problem.rename_to));
        action.diagnostics = [diagnostic];
        action.isPreferred = true;
        actions.push(action);
      }
      if (problem.install?.length) {
        const action = new vscode.CodeAction(`Install ${problem.install.join(', ')} into the trainer's Python`, vscode.CodeActionKind.QuickFix);
        action.command = { title: action.title, command: COMMANDS.installMissingPackages, arguments: [document.uri] };
        action.diagnostics = [diagnostic];
        actions.push(action);
      }
    }
    return actions;
  }

  /** What the trainer's checks of this config say to pip-install (its open problems). */
  missingPackages(uri: vscode.Uri): string[] {
    return [...new Set(this.collection.get(uri)?.flatMap((d) => this.problems.get(d)?.install ?? []) ?? [])];
  }

  dispose(): void {
    this.pending.forEach((t) => clearTimeout(t));
    this.collection.dispose();
    this.subscriptions.forEach((s) => s.dispose());
  }
}

async function readText(uri: vscode.Uri): Promise<string | undefined> {
  try {
    return Buffer.from(await vscode.workspace.fs.readFile(uri)).toString('utf8');
  } catch {
    return undefined; // gone
  }
}

function positionAt(text: string, offset: number): vscode.Position {
  const before = text.slice(0, offset);
  const line = before.split('\n').length - 1;
  return new vscode.Position(line, offset - (before.lastIndexOf('\n') + 1));
}

function offsetOf(text: string, line: number, column: number): number {
  const lines = text.split('\n');
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += (lines[i]?.length ?? 0) + 1;
  return Math.min(text.length, offset + Math.max(0, column - 1));
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
  "jbond": {"beta": 0.5, "gamma": 0.0},
  "anchor": {"kind": "ema", "ema_eta": 0.02},
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
  // the run is named after the file (my-beta-sweep.bond.json → "my-beta-sweep"), not the template's placeholder
  const runName = name.replace(/\.bond\.json$/, '');
  await vscode.workspace.fs.writeFile(target, Buffer.from(NEW_CONFIG_TEMPLATE.replace('"name": "my-jbond-run"', `"name": ${JSON.stringify(runName)}`)));
  if (!(await exists(prompts))) await vscode.workspace.fs.writeFile(prompts, Buffer.from(NEW_PROMPTS));
  await vscode.window.showTextDocument(target);
}
