/** The dashboard's data: per run, metric lines turned into columns that grow as lines arrive. */
import type { MetricRecord } from '../../contracts/run-directory';
import type { DashboardRun } from '../../contracts/webviews/dashboard';
import type { Column } from '../shared/series';

export class Table {
  readonly steps: number[] = [];
  /** seconds since the run's first line */
  readonly times: number[] = [];
  readonly columns = new Map<string, Column>();

  add(record: MetricRecord, origin: number): void {
    const row = this.steps.length;
    this.steps.push(record.step);
    this.times.push(record.time - origin);
    for (const [key, value] of Object.entries(record)) {
      if (key === 'kind' || key === 'step' || key === 'time' || typeof value !== 'number') continue;
      let column = this.columns.get(key);
      if (!column) {
        column = new Array<number | null>(row).fill(null);
        this.columns.set(key, column);
      }
      column.push(value);
    }
    for (const column of this.columns.values()) if (column.length <= row) column.push(null);
  }

  get length(): number {
    return this.steps.length;
  }
}

export class RunData {
  readonly train = new Table();
  readonly eval = new Table();
  /** the latest eval line's Best-of-N reward curve (mean reward of BoN-n for n = 1..n_max) */
  bonCurve: number[] | null = null;
  private origin: number | undefined;
  /** bumped on every change so charts know when to refresh */
  version = 0;

  constructor(public header: DashboardRun) {}

  add(records: readonly MetricRecord[]): void {
    for (const record of records) {
      this.origin ??= record.time;
      if (record.kind === 'eval') {
        this.eval.add(record, this.origin);
        if (Array.isArray(record.bon_curve)) this.bonCurve = record.bon_curve;
      } else {
        this.train.add(record, this.origin);
      }
    }
    if (records.length) this.version++;
  }

  get lastStep(): number {
    return Math.max(this.train.steps.at(-1) ?? 0, this.eval.steps.at(-1) ?? 0);
  }
}
