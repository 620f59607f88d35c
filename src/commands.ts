/**
 * Every BOND command, one code path each: the palette, the CodeLens, the runs view and
 * webview buttons all call these. Arguments are a config Uri or a RunState from the tree; with none,
 * the command asks.
 */
import { basename, dirname, isAbsolute, join } from 'node:path';
import * as vscode from 'vscode';
import { canResume, describeChange, RUN_FOLDER } from '../contracts/run-directory';
import { writeAnnotations } from './core/annotations';
import { recordedConfigText } from './core/recordedConfig';
import { TextTail } from './core/textTail';
import { EXIT_BAD_INPUT, type ValidateReport } from '../contracts/trainer-cli';
import { furtherStepsProblem, type RunProcess, type RunManager } from './core/runManager';
import { runLabel, type RunState, type RunStore } from './core/runStore';
import { findConfigs, isConfigDocument, newConfig } from './configs';
import { validateConfig } from './core/python';
import { deletableRunProblem } from './core/runStore';
import type { PythonEnvironment } from './environment';
import { COMMANDS } from './commandIds';

export interface Services {
  context: vscode.ExtensionContext;
  store: RunStore;
  manager: RunManager;
  python: PythonEnvironment;
  output: vscode.OutputChannel;
  /** run folders whose trainer this window started (their process watcher reports a failure) */
  startedHere: Set<string>;
  /** per-run output channels for the trainer's stdout/stderr */
  runOutput(dir: string, name: string): vscode.OutputChannel;
}

const UNTRUSTED = 'BOND runs execute workspace code (such as user reward functions), so runs can only be started '
  + 'or resumed in a trusted workspace. Existing runs can still be viewed.';

export function runsDirectory(folder: vscode.WorkspaceFolder): string {
  const setting = vscode.workspace.getConfiguration('bond', folder.uri).get<string>('runsDirectory', '.bond/runs');
  return isAbsolute(setting) ? setting : join(folder.uri.fsPath, setting);
}

export function isRunState(value: unknown): value is RunState {
  return typeof value === 'object' && value !== null && typeof (value as RunState).dir === 'string'
    && typeof (value as RunState).meta === 'object';
}

async function pickConfig(argument: unknown): Promise<vscode.Uri | undefined> {
  if (argument instanceof vscode.Uri) return argument;
  const editor = vscode.window.activeTextEditor;
  if (editor && isConfigDocument(editor.document)) return editor.document.uri;
  const configs = [...new Map((await findConfigs()).map((uri) => [uri.fsPath, uri])).values()]; // one entry per file
  if (!configs.length) {
    const choice = await vscode.window.showErrorMessage('BOND: no *.bond.json run config in this workspace.', 'New Run Config');
    if (choice) await vscode.commands.executeCommand(COMMANDS.newConfig);
    return undefined;
  }
  if (configs.length === 1) return configs[0];
  const picked = await vscode.window.showQuickPick(
    configs.map((uri) => {
      const errors = vscode.languages.getDiagnostics(uri).filter((d) => d.severity === vscode.DiagnosticSeverity.Error).length;
      return { label: `${errors ? '$(error) ' : ''}${basename(uri.fsPath)}`, description: vscode.workspace.asRelativePath(uri),
        detail: errors ? `${errors} problem${errors === 1 ? '' : 's'}: it will not start until they are fixed` : undefined, uri };
    }),
    { title: 'Start a BOND run', placeHolder: 'Which run config?' });
  return picked?.uri;
}

export async function pickRun(services: Services, argument: unknown, filter: (run: RunState) => boolean, verb: string): Promise<RunState | undefined> {
  if (isRunState(argument)) return services.store.get(argument.dir) ?? argument;
  const runs = services.store.runs.filter(filter);
  if (!runs.length) {
    void vscode.window.showInformationMessage(`BOND: no run to ${verb}.`);
    return undefined;
  }
  if (runs.length === 1) return runs[0];
  const picked = await vscode.window.showQuickPick(
    runs.map((run) => ({ label: runLabel(run), description: `${run.status} · ${run.meta.step}/${run.meta.total_steps}`, detail: run.dir, run })),
    { title: `${verb[0]!.toUpperCase()}${verb.slice(1)} which BOND run?` });
  return picked?.run;
}

function watchProcess(services: Services, run: RunProcess, label: string, configUri?: vscode.Uri): void {
  services.startedHere.add(run.dir);
  const channel = services.runOutput(run.dir, label);
  channel.appendLine(`[${new Date().toLocaleTimeString()}] started pid ${run.pid}: ${run.dir}`);
  run.output.event(({ text }) => channel.append(text));
  void run.exited.then(async ({ code, signal, stderrTail }) => {
    channel.appendLine(`[${new Date().toLocaleTimeString()}] exited ${code ?? signal}`);
    await services.store.refresh();
    if (code === 0) return;
    const state = services.store.get(run.dir);
    const reason = code === EXIT_BAD_INPUT
      ? stderrTail.trim()
      : state?.meta.error?.message ?? stderrTail.trim().split('\n').slice(-3).join(' ');
    const actions = configUri ? ['Show Log', 'Open Config'] : ['Show Log'];
    const started = code !== EXIT_BAD_INPUT;
    const choice = await vscode.window.showErrorMessage(`BOND run ${label} ${started ? 'failed' : 'did not start'}: ${reason}`,
      ...(started && state ? ['Open Dashboard'] : []), ...actions);
    if (choice === 'Open Dashboard' && state) await vscode.commands.executeCommand(COMMANDS.openDashboard, state);
    if (choice === 'Show Log') channel.show(true);
    if (choice === 'Open Config' && configUri) await vscode.window.showTextDocument(configUri);
  });
}

/**
 * The trainer's own check of a config before a run starts or resumes: a config it would refuse does
 * not start. Problems that a missing package causes get an Install button that retries; the others
 * are named, with a way to the Problems panel. The report when the config is ready, else undefined
 * (a validator that cannot say leaves it to the trainer, which names the problem itself).
 */
async function checkConfig(services: Services, uri: vscode.Uri, retry: () => Promise<unknown>,
  options: { overrides?: readonly string[]; diffRun?: string } = {}): Promise<ValidateReport | 'unknown' | undefined> {
  const environment = await services.python.require().catch((error: Error) => error);
  if (environment instanceof Error) {
    void vscode.window.showErrorMessage(`BOND: ${environment.message}`);
    return undefined;
  }
  const report = await validateConfig(environment, uri.fsPath, options);
  if (typeof report === 'string') return 'unknown';
  if (report.problems.length === 0) return report;
  const file = basename(uri.fsPath);
  const install = [...new Set(report.problems.flatMap((p) => p.install ?? []))];
  const named = report.problems.map((p) => (p.field ? `${p.field}: ${p.message}` : p.message));
  if (install.length && report.problems.every((p) => p.install?.length)) {
    void services.python.offerInstall(`${file} cannot start yet: ${named.join('; ')}`, install, retry);
    return undefined;
  }
  const choice = await vscode.window.showErrorMessage(
    `BOND: ${file} has ${named.length} problem${named.length === 1 ? '' : 's'} and was not started: ${named.slice(0, 3).join('; ')}${named.length > 3 ? '; …' : ''}`,
    'Show Problems', 'Open Config');
  if (choice === 'Show Problems') await vscode.commands.executeCommand('workbench.actions.view.problems');
  if (choice === 'Open Config') await vscode.window.showTextDocument(uri);
  return undefined;
}

/**
 * Resume (or train further, with its train.steps override) one run: the config is checked, and a
 * config that changed since the run last trained is shown field by field and asked about first; the
 * trainer records what changed as a new segment, so the steps before keep the config they ran with.
 */
async function resumeWith(services: Services, run: RunState, overrides: string[], retry: () => Promise<unknown>): Promise<void> {
  const configPath = run.meta.config_path;
  if (configPath) {
    const uri = vscode.Uri.file(configPath);
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (document?.isDirty) await document.save();
    const report = await checkConfig(services, uri, retry, { overrides, diffRun: run.dir });
    if (report === undefined) return;
    const asked = new Set(overrides.map((o) => o.split('=')[0]));
    const changes = report === 'unknown' ? [] : (report.changes ?? []).filter((c) => !asked.has(c.field));
    if (changes.length) {
      const listed = changes.slice(0, 8).map(describeChange).join('\n');
      const choice = await vscode.window.showWarningMessage(
        `BOND: ${basename(configPath)} changed since ${runLabel(run)} last trained`,
        { modal: true, detail: `${listed}${changes.length > 8 ? `\n… and ${changes.length - 8} more` : ''}\n\nResuming trains on with the new config and records it as a new segment from the checkpoint it resumes from; the steps before keep the config they ran with.` },
        'Resume with Changes', 'Open Config');
      if (choice === 'Open Config') await vscode.window.showTextDocument(uri);
      if (choice !== 'Resume with Changes') return;
    }
  }
  const folder = vscode.workspace.workspaceFolders?.find((f) => run.dir.startsWith(f.uri.fsPath)) ?? vscode.workspace.workspaceFolders?.[0];
  try {
    const process = await services.manager.resume(run.dir, folder?.uri.fsPath ?? dirname(run.dir), overrides);
    watchProcess(services, process, basename(run.dir), configPath ? vscode.Uri.file(configPath) : undefined);
    await services.store.refresh();
  } catch (error) {
    void vscode.window.showErrorMessage(`BOND: ${(error as Error).message}`);
  }
}

const RECORDED_CONFIG_SCHEME = 'bond-run-config';

function recordedConfigUri(run: RunState): vscode.Uri {
  return vscode.Uri.from({ scheme: RECORDED_CONFIG_SCHEME, path: `/${basename(run.dir)}.bond.json`, query: new URLSearchParams({ dir: run.dir }).toString() });
}

/** Runs execute workspace code: none starts in a workspace the user has not trusted (said, with a way to trust it). */
export function workspaceTrusted(): boolean {
  if (vscode.workspace.isTrusted) return true;
  void vscode.window.showErrorMessage(UNTRUSTED, 'Manage Workspace Trust')
    .then((c) => c && vscode.commands.executeCommand('workbench.trust.manage'));
  return false;
}

async function startRun(services: Services, argument?: unknown): Promise<string | undefined> {
  if (!workspaceTrusted()) return undefined;
  const { store, manager } = services;
  const uri = await pickConfig(argument);
  if (!uri) return undefined;
  const folder = vscode.workspace.getWorkspaceFolder(uri) ?? vscode.workspace.workspaceFolders?.[0];
  if (!folder) return undefined;
  const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
  if (document?.isDirty) await document.save();
  const limit = vscode.workspace.getConfiguration('bond').get<number>('maxConcurrentRuns', 2);
  if (manager.active.length >= limit) {
    void vscode.window.showErrorMessage(`BOND: ${manager.active.length} run(s) already active (bond.maxConcurrentRuns = ${limit}). Stop one or raise the setting.`);
    return undefined;
  }
  const same = store.runs.find((r) => (r.status === 'running' || r.status === 'starting') && r.meta.config_path === uri.fsPath);
  if (same) {
    const choice = await vscode.window.showWarningMessage(`BOND: ${basename(uri.fsPath)} is already running (${same.meta.step}/${same.meta.total_steps}). Start another run of it?`, { modal: true }, 'Start Another');
    if (choice !== 'Start Another') return undefined;
  }
  if (!(await checkConfig(services, uri, () => startRun(services, uri)))) return undefined;
  try {
    const run = await manager.start({ configPath: uri.fsPath, runsDirectory: runsDirectory(folder), cwd: folder.uri.fsPath });
    watchProcess(services, run, basename(run.dir), uri);
    await store.refresh();
    return run.dir;
  } catch (error) {
    void vscode.window.showErrorMessage(`BOND: ${(error as Error).message}`);
    return undefined;
  }
}

/** Resume and Train Further share resumeWith: the config diff, the question, the start. */
async function resumeRun(services: Services, argument?: unknown): Promise<void> {
  if (!workspaceTrusted()) return;
  const run = await pickRun(services, argument, (r) => canResume(r.status), 'resume');
  if (run) await resumeWith(services, run, [], () => resumeRun(services, run));
}

async function trainFurther(services: Services, argument?: unknown): Promise<void> {
  if (!workspaceTrusted()) return;
  const run = await pickRun(services, argument, (r) => r.status === 'completed', 'train further');
  if (!run) return;
  const completed = run.meta.step;
  const total = await vscode.window.showInputBox({
    title: `BOND: train ${runLabel(run)} further`,
    prompt: `New total of steps (it completed ${completed}). It resumes from its last checkpoint; a cosine schedule is re-stretched over the new total.`,
    value: String(completed * 2),
    validateInput: (text) => furtherStepsProblem(text, completed),
    // the user may look at the run's dashboard to choose the total: that must not dismiss the question
    ignoreFocusOut: true,
  });
  if (total === undefined) return;
  await resumeWith(services, run, [`train.steps=${total.trim()}`], () => trainFurther(services, run));
}

async function stopRun(services: Services, argument?: unknown): Promise<void> {
  const { store, manager } = services;
  const run = await pickRun(services, argument, (r) => r.status === 'running' || r.status === 'starting', 'stop');
  if (!run) return;
  const outcome = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `BOND: stopping ${runLabel(run)} (finishing the step, then a checkpoint)…` },
    () => manager.stop(run.dir, stopTimeoutMs()));
  await store.refresh();
  if (outcome === 'killed') void vscode.window.showWarningMessage(`BOND: ${runLabel(run)} did not stop in time and was killed; resume continues from its last checkpoint.`);
  if (outcome === 'not-running') void vscode.window.showInformationMessage(`BOND: ${runLabel(run)} was not running.`);
}

async function deleteRun(services: Services, argument?: unknown): Promise<void> {
  const run = await pickRun(services, argument, (r) => r.status !== 'running' && r.status !== 'starting', 'delete');
  if (!run) return;
  // Only a run folder (it holds a run.json) right under a configured runs directory is deleted.
  const folders = (vscode.workspace.workspaceFolders ?? []).map(runsDirectory);
  const problem = deletableRunProblem(run.dir, folders);
  if (problem) {
    void vscode.window.showErrorMessage(`BOND: ${problem}`);
    return;
  }
  const choice = await vscode.window.showWarningMessage(`Delete the BOND run ${runLabel(run)} (${basename(run.dir)})? Its folder goes to the trash.`, { modal: true }, 'Delete');
  if (choice !== 'Delete') return;
  await vscode.workspace.fs.delete(vscode.Uri.file(run.dir), { recursive: true, useTrash: true });
  await services.store.refresh();
}

async function revealRunFolder(services: Services, argument?: unknown): Promise<void> {
  const run = await pickRun(services, argument, () => true, 'reveal');
  if (run) await vscode.commands.executeCommand('revealFileInOS', vscode.Uri.file(join(run.dir, RUN_FOLDER.run)));
}

// The trainer's log as a live view that follows the run (an output channel fed from trainer.log).
interface LogView {
  channel: vscode.OutputChannel;
  tail: TextTail;
  timer?: NodeJS.Timeout;
}

const logViews = new Map<string, LogView>();

async function pumpLog(view: LogView): Promise<void> {
  for (;;) {
    const chunk = await view.tail.read().catch(() => ({ text: '', reset: false }));
    if (chunk.reset) view.channel.replace('');
    if (!chunk.text) return;
    view.channel.append(chunk.text);
  }
}

async function showTrainerLog(services: Services, argument?: unknown): Promise<void> {
  const run = await pickRun(services, argument, () => true, 'show the log of');
  if (!run) return;
  let view = logViews.get(run.dir);
  if (!view) {
    view = { channel: vscode.window.createOutputChannel(`BOND log: ${runLabel(run)}`, 'log'), tail: new TextTail(join(run.dir, RUN_FOLDER.log)) };
    logViews.set(run.dir, view);
    services.context.subscriptions.push(view.channel);
  }
  const following = view;
  await pumpLog(following);
  // While the run is live the view follows it, a second a read; once it ends, one last read.
  if (!following.timer) {
    following.timer = setInterval(() => {
      void pumpLog(following);
      const status = services.store.get(run.dir)?.status;
      if (status !== 'running' && status !== 'starting') {
        clearInterval(following.timer);
        following.timer = undefined;
      }
    }, 1000);
  }
  following.channel.show(true);
}

async function openRunConfig(services: Services, argument?: unknown): Promise<void> {
  const run = await pickRun(services, argument, () => true, 'open the config of');
  if (!run) return;
  // What ran, from run.json (read-only: a content provider's document), not the live file.
  const document = await vscode.workspace.openTextDocument(recordedConfigUri(run));
  await vscode.languages.setTextDocumentLanguage(document, 'jsonc');
  await vscode.window.showTextDocument(document, { preview: true });
  if (run.meta.config_path) {
    void vscode.window.showInformationMessage(`BOND: the config ${runLabel(run)} ran with (read-only). Its source file may have changed since.`, 'Open Source File')
      .then((choice) => choice && vscode.window.showTextDocument(vscode.Uri.file(run.meta.config_path as string)));
  }
}

// The editor's own notes on a run (bond-studio.json); run.json stays as the trainer wrote it.
async function annotate(services: Services, argument: unknown, verb: string,
  ask: (run: RunState) => Promise<{ label?: string; note?: string; tags?: string[] } | undefined>): Promise<void> {
  const run = await pickRun(services, argument, () => true, verb);
  if (!run) return;
  const change = await ask(run);
  if (!change) return;
  try {
    await writeAnnotations(run.dir, change);
  } catch (error) {
    void vscode.window.showErrorMessage(`BOND: cannot write ${join(run.dir, RUN_FOLDER.annotations)}: ${(error as Error).message}`);
    return;
  }
  await services.store.refresh();
}

function renameRun(services: Services, argument?: unknown): Promise<void> {
  return annotate(services, argument, 'rename', async (run) => {
    const label = await vscode.window.showInputBox({
      title: `BOND: rename ${runLabel(run)}`, value: run.annotations?.label ?? run.meta.name,
      prompt: `Shown everywhere instead of run.json's name (${run.meta.name}); empty to go back to it. Kept in the run folder (bond-studio.json).`,
    });
    return label === undefined ? undefined : { label };
  });
}

function editRunNote(services: Services, argument?: unknown): Promise<void> {
  return annotate(services, argument, 'add a note to', async (run) => {
    const note = await vscode.window.showInputBox({ title: `BOND: note on ${runLabel(run)}`, value: run.annotations?.note ?? '',
      prompt: 'What to remember about this run; empty to remove it.' });
    return note === undefined ? undefined : { note };
  });
}

function editRunTags(services: Services, argument?: unknown): Promise<void> {
  return annotate(services, argument, 'tag', async (run) => {
    const tags = await vscode.window.showInputBox({ title: `BOND: tags of ${runLabel(run)}`, value: (run.annotations?.tags ?? []).join(', '),
      prompt: 'Comma-separated, e.g. baseline, beta-sweep; empty to remove them.' });
    return tags === undefined ? undefined : { tags: tags.split(',').map((t) => t.trim()).filter(Boolean) };
  });
}

/** Open Run Config's documents: the config a run recorded in run.json, read-only. */
function recordedConfigs(store: RunStore): vscode.TextDocumentContentProvider {
  return {
    provideTextDocumentContent: (uri) => {
      const dir = new URLSearchParams(uri.query).get('dir') ?? '';
      const run = store.get(dir);
      return run ? recordedConfigText(run) : `// no run at ${dir}\n`;
    },
  };
}

const stopTimeoutMs = () => 1000 * vscode.workspace.getConfiguration('bond').get<number>('stopTimeoutSeconds', 60);

export function registerCommands(services: Services): vscode.Disposable[] {
  const command = (id: string, run: (services: Services, argument?: unknown) => unknown) =>
    vscode.commands.registerCommand(id, (argument?: unknown) => run(services, argument));
  return [
    command(COMMANDS.startRun, startRun),
    command(COMMANDS.stopRun, stopRun),
    command(COMMANDS.resumeRun, resumeRun),
    command(COMMANDS.trainFurther, trainFurther),
    command(COMMANDS.deleteRun, deleteRun),
    command(COMMANDS.revealRunFolder, revealRunFolder),
    command(COMMANDS.showTrainerLog, showTrainerLog),
    command(COMMANDS.openRunConfig, openRunConfig),
    command(COMMANDS.renameRun, renameRun),
    command(COMMANDS.editRunNote, editRunNote),
    command(COMMANDS.editRunTags, editRunTags),
    vscode.commands.registerCommand(COMMANDS.checkEnvironment, () => services.python.check()),
    vscode.commands.registerCommand(COMMANDS.newConfig, () => newConfig()),
    vscode.commands.registerCommand(COMMANDS.refreshRuns, () => services.store.refresh()),
    vscode.workspace.registerTextDocumentContentProvider(RECORDED_CONFIG_SCHEME, recordedConfigs(services.store)),
  ];
}
