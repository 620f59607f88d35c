/**
 * The end of a run, said once: a run seen live (starting or running) that then completes or fails
 * gets a notification with its headline numbers or its reason, and a way to its dashboard. Runs
 * that were already over when the window opened say nothing.
 */
import * as vscode from 'vscode';
import { COMMANDS } from './commandIds';
import { endingMessage } from './core/runEndings';
import type { RunStore } from './core/runStore';

/** `startedHere`: runs this window launched, whose failures their process watcher reports already. */
export function notifyRunEndings(store: RunStore, startedHere: (dir: string) => boolean): vscode.Disposable {
  const last = new Map<string, string>();
  return store.onDidChangeRuns((runs) => {
    for (const run of runs) {
      const message = endingMessage(run, last.get(run.dir));
      last.set(run.dir, run.status);
      // a sweep's trials end by the dozen: the sweep says once how it went (its Start Sweep notice)
      if (!message || (message.error && startedHere(run.dir)) || run.meta.sweep) continue;
      const show = message.error ? vscode.window.showErrorMessage : vscode.window.showInformationMessage;
      void show(message.text, 'Open Dashboard').then((choice) => {
        if (choice) void vscode.commands.executeCommand(COMMANDS.openDashboard, run);
      });
    }
  });
}
