/**
 * The webview commands (Open Dashboard, Open Samples, Compare Runs, Open Playground), the panel
 * serializers that bring panels back after a reload, and the side-panel inspector.
 */
import * as vscode from 'vscode';
import { isSweepGroup } from '../core/sweepFolders';
import { parseDashboardState } from '../../contracts/webviews/dashboard';
import { parseSamplesState } from '../../contracts/webviews/samples';
import { isRunState, pickRun, type Services } from '../commands';
import { runLabel, type RunState } from '../core/runStore';
import { DASHBOARD_VIEW_TYPE, DashboardPanel } from './dashboardPanel';
import { InspectorViewProvider, INSPECTOR_VIEW_ID } from './inspectorView';
import { FocusModel, SAMPLES_VIEW_TYPE, SamplesPanel } from './samplesPanel';
import { ViewLinks } from './links';
import { PLAYGROUND_VIEW_TYPE, PlaygroundPanel, type PlaygroundServices } from './playgroundPanel';
import { COMMANDS } from '../commandIds';
import { parseSweepState } from '../../contracts/webviews/sweep';
import { pickSweepFolder } from '../sweeps';
import { SWEEP_VIEW_TYPE, SweepPanel, type SweepPanelServices } from './sweepPanel';
import { EXPERIMENTS_VIEW_TYPE, ExperimentsPanel, type ExperimentsServices } from './experimentsPanel';

/** A panel serializer: the saved state parsed (a panel whose state names nothing says so instead of staying blank), then revived. */
function reviver<T>(output: vscode.OutputChannel, parse: (state: unknown) => T | undefined, why: string,
  revive: (panel: vscode.WebviewPanel, state: T) => void): vscode.WebviewPanelSerializer {
  return {
    async deserializeWebviewPanel(panel, state: unknown) {
      const parsed = parse(state);
      if (!parsed) return orphan(panel, why, state, output);
      revive(panel, parsed);
    },
  };
}

/** A panel whose saved state names no run (or a run that is gone) says so instead of staying blank. */
function orphan(panel: vscode.WebviewPanel, why: string, state: unknown, output: vscode.OutputChannel): void {
  output.appendLine(`[webviews] not restoring a ${panel.viewType} panel (${why}); saved state: ${JSON.stringify(state)?.slice(0, 300)}`);
  panel.dispose();
  void vscode.window.showWarningMessage(`BOND: a panel from the last session was not restored: ${why}`);
}

export function registerWebviews(services: Services): vscode.Disposable[] {
  const { context, store, output } = services;
  const extensionUri = context.extensionUri;
  const focus = new FocusModel();
  const links: ViewLinks = new ViewLinks((dir, step) => SamplesPanel.show(extensionUri, store, focus, links, output, dir, true).showStep(step));
  const playgroundServices: PlaygroundServices = {
    extensionUri, store, environment: () => services.python.require(), log: output, memento: context.workspaceState,
    offerInstall: (message, install, retry) => services.python.offerInstall(message, install, retry),
  };
  const inspector = new InspectorViewProvider(extensionUri, focus, output,
    (prompt) => PlaygroundPanel.show(playgroundServices, prompt === null ? undefined : { prompt }));

  /** From the palette (no run), a runs-view item (that run), or the launcher (a prompt). */
  const openPlayground = (argument?: unknown): void => {
    PlaygroundPanel.show(playgroundServices, isRunState(argument) ? { dir: argument.dir } : undefined);
  };

  const openDashboard = async (argument?: unknown): Promise<void> => {
    const run = await pickRun(services, argument, () => true, 'open the dashboard of');
    if (run) DashboardPanel.show(extensionUri, store, links, output, [run.dir]);
  };

  const openSamples = async (argument?: unknown): Promise<void> => {
    const run = await pickRun(services, argument, () => true, 'open the samples of');
    if (run) SamplesPanel.show(extensionUri, store, focus, links, output, run.dir);
  };

  /** From the runs view with several runs selected, or a multi-select quick pick. */
  const compareRuns = async (argument?: unknown, selection?: unknown): Promise<void> => {
    // a sweep of the runs view stands for its runs (every trial, every seed)
    const chosen: unknown[] = Array.isArray(selection) ? selection : isSweepGroup(argument) ? [argument] : [];
    let runs: RunState[] = chosen.flatMap((item) => (isSweepGroup(item) ? item.runs : isRunState(item) ? [item] : []));
    if (runs.length < 2) {
      const candidates = store.runs;
      if (candidates.length < 2) {
        void vscode.window.showInformationMessage('BOND: comparing needs at least two runs.');
        return;
      }
      const preselected = isRunState(argument) ? argument.dir : undefined;
      const picked = await vscode.window.showQuickPick(
        candidates.map((run) => ({ label: runLabel(run), description: `${run.meta.algorithm} · ${run.status} · ${run.meta.step}/${run.meta.total_steps}`, detail: run.dir, picked: run.dir === preselected, run })),
        { title: 'Compare BOND runs', placeHolder: 'Pick two or more runs to overlay', canPickMany: true });
      if (!picked) return;
      runs = picked.map((item) => item.run);
      if (runs.length < 2) {
        void vscode.window.showInformationMessage('BOND: pick at least two runs to compare.');
        return;
      }
    }
    DashboardPanel.show(extensionUri, store, links, output, runs.map((run) => run.dir));
  };

  const sweepServices: SweepPanelServices = {
    extensionUri, store, log: output,
    openRuns: (dirs) => DashboardPanel.show(extensionUri, store, links, output, dirs),
    openSamples: (dir) => SamplesPanel.show(extensionUri, store, focus, links, output, dir, true),
  };
  const openSweep = async (argument?: unknown): Promise<void> => {
    const folder = await pickSweepFolder(argument);
    if (folder) SweepPanel.show(sweepServices, folder);
  };

  const experimentsServices: ExperimentsServices = { extensionUri, store, log: output, openRuns: sweepServices.openRuns };

  return [
    focus,
    vscode.commands.registerCommand(COMMANDS.openSweep, openSweep),
    vscode.commands.registerCommand(COMMANDS.openExperiments, () => ExperimentsPanel.show(experimentsServices)),
    vscode.window.registerWebviewPanelSerializer(EXPERIMENTS_VIEW_TYPE, {
      async deserializeWebviewPanel(panel) {
        new ExperimentsPanel(panel, experimentsServices);
      },
    }),
    vscode.window.registerWebviewPanelSerializer(SWEEP_VIEW_TYPE, reviver(output, parseSweepState, 'its saved state names no sweep folder',
      (panel, parsed) => new SweepPanel(panel, sweepServices, parsed.folder))),
    links,
    inspector,
    vscode.window.registerWebviewViewProvider(INSPECTOR_VIEW_ID, inspector),
    vscode.commands.registerCommand(COMMANDS.openDashboard, openDashboard),
    vscode.commands.registerCommand(COMMANDS.openSamples, openSamples),
    vscode.commands.registerCommand(COMMANDS.compareRuns, compareRuns),
    vscode.commands.registerCommand(COMMANDS.openPlayground, openPlayground),
    vscode.window.registerWebviewPanelSerializer(PLAYGROUND_VIEW_TYPE, {
      async deserializeWebviewPanel(panel) {
        new PlaygroundPanel(panel, playgroundServices);
      },
    }),
    vscode.window.registerWebviewPanelSerializer(DASHBOARD_VIEW_TYPE, reviver(output, parseDashboardState, 'its saved state names no run',
      (panel, parsed) => new DashboardPanel(panel, extensionUri, store, links, output, parsed.dirs))),
    vscode.window.registerWebviewPanelSerializer(SAMPLES_VIEW_TYPE, reviver(output, parseSamplesState, 'its saved state names no run',
      (panel, parsed) => new SamplesPanel(panel, extensionUri, store, focus, links, output, parsed.dir))),
  ];
}
