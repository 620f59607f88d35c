/** Status bar while runs are active: step/total, latest reward and ETA; a click opens that run's dashboard. */
import * as vscode from 'vscode';
import { etaSeconds, formatDuration } from './core/format';
import type { RunStore } from './core/runStore';
import { COMMANDS } from './commandIds';

export class RunStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('bond.runs', vscode.StatusBarAlignment.Left, 50);
  private readonly subscription: { dispose(): void };

  constructor(private readonly store: RunStore) {
    this.item.name = 'BOND runs';
    this.subscription = store.onDidChangeRuns(() => this.update());
    this.update();
  }

  update(): void {
    const active = this.store.runs.filter((r) => r.status === 'running' || r.status === 'starting');
    if (!active.length) {
      this.item.hide();
      return;
    }
    const run = active[0]!;
    const reward = run.latest?.['reward/policy'];
    const eta = etaSeconds(run.meta, Date.now());
    const more = active.length > 1 ? ` (+${active.length - 1})` : '';
    this.item.text = `$(sync~spin) BOND ${run.meta.step}/${run.meta.total_steps}`
      + (typeof reward === 'number' ? ` · r ${reward.toFixed(2)}` : '')
      + (eta !== undefined ? ` · ETA ${formatDuration(eta)}` : '') + more;
    this.item.tooltip = `${run.meta.name}: ${run.meta.algorithm} on ${run.meta.device}. Click to open its dashboard.`;
    this.item.command = { title: 'Open BOND Dashboard', command: COMMANDS.openDashboard, arguments: [run] };
    this.item.show();
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}
