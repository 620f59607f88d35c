/** Status bar while runs are active: step/total, latest reward and ETA; a click opens that run's dashboard. */
import * as vscode from 'vscode';
import { etaSeconds, formatDuration, liveReward } from './core/format';
import { runLabel, type RunState, type RunStore } from './core/runStore';
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
    // Nearest to done first: the run whose end a user waits for leads, the others are on hover.
    const left = (r: RunState) => etaSeconds(r.meta, Date.now()) ?? Number.POSITIVE_INFINITY;
    const active = this.store.runs.filter((r) => r.status === 'running' || r.status === 'starting')
      .sort((a, b) => left(a) - left(b) || (b.meta.step / Math.max(1, b.meta.total_steps)) - (a.meta.step / Math.max(1, a.meta.total_steps)));
    if (!active.length) {
      this.item.hide();
      return;
    }
    const run = active[0]!;
    const reward = liveReward(run.latest, run.latestEval);
    const eta = etaSeconds(run.meta, Date.now());
    const more = active.length > 1 ? ` (+${active.length - 1})` : '';
    this.item.text = `$(sync~spin) BOND ${run.meta.step}/${run.meta.total_steps}`
      + (reward ? ` · ${reward.label} ${reward.value.toFixed(2)}` : '')
      + (eta !== undefined ? ` · ETA ${formatDuration(eta)}` : '') + more;
    const tooltip = new vscode.MarkdownString(undefined, false);
    tooltip.isTrusted = false;
    for (const r of active) {
      const eta = etaSeconds(r.meta, Date.now());
      const rr = liveReward(r.latest, r.latestEval);
      tooltip.appendText(`${runLabel(r)}: ${r.meta.step}/${r.meta.total_steps}${rr ? `, ${rr.label === 'r' ? 'reward' : 'held-out reward'} ${rr.value.toFixed(3)}` : ''}`
        + `${eta !== undefined ? `, ETA ${formatDuration(eta)}` : ''} (${r.meta.algorithm} on ${r.meta.device})\n\n`);
    }
    tooltip.appendText(`Click to open the dashboard of ${runLabel(run)}.`);
    this.item.tooltip = tooltip;
    this.item.command = { title: 'Open BOND Dashboard', command: COMMANDS.openDashboard, arguments: [run] };
    this.item.show();
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}
