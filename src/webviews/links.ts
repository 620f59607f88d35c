/**
 * What ties the dashboard to the samples views: a chart click opens a run's samples at a step, and
 * the step a samples view shows is marked on every dashboard chart of that run.
 */
import * as vscode from 'vscode';

export interface StepShown {
  dir: string;
  /** null: the samples view shows no single step (all steps, one prompt across steps, or closed) */
  step: number | null;
}

export class ViewLinks implements vscode.Disposable {
  private readonly shown = new Map<string, number>();
  private readonly emitter = new vscode.EventEmitter<StepShown>();
  readonly onDidShowStep = this.emitter.event;

  /** Opens (or reveals) the run's samples view beside the caller, at the snapshot nearest the step. */
  constructor(readonly openSamplesAt: (dir: string, step: number) => void) {}

  /** A samples view reports the step it shows. */
  stepShown(event: StepShown): void {
    if (event.step === null) this.shown.delete(event.dir);
    else this.shown.set(event.dir, event.step);
    this.emitter.fire(event);
  }

  /** The step a samples view of this run shows now, or null. */
  markerOf(dir: string): number | null {
    return this.shown.get(dir) ?? null;
  }

  dispose(): void {
    this.emitter.dispose();
  }
}
