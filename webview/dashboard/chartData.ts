/**
 * The data side of a dashboard chart, without a DOM or uPlot: which lines a chart draws for which
 * runs (smoothed, raw, reference), every run's columns on one shared x, the range a chart that
 * follows its run spans, and the visible window as CSV. Tested in Node (test/unit/chartData.test.ts);
 * chart.ts renders it.
 */
import type { XAxis } from '../../contracts/webviews/dashboard';
import { alignTables, DebiasedEma, type Aligned, type Column } from '../shared/series';
import type { RunData, Table } from './model';
import type { ChartSpec } from './specs';

export interface Line {
  label: string;
  colour: string;
  dash?: number[];
  raw: () => Column;
  /** the smoothed column, or the raw one when smoothing does not apply */
  shown: () => Column;
  smoothed: boolean;
  reference: boolean;
}

/** What the lines of a chart depend on beyond its spec and runs. */
export interface LineStyle {
  compare: boolean;
  smoothing: number;
  xAxis: XAxis;
  runColour(index: number): string;
  seriesColour(index: number): string;
  foreground: string;
}

const DASHES: (number[] | undefined)[] = [undefined, [6, 3], [2, 3], [8, 3, 2, 3]];
const EMPTY: Column = [];

/** The dash of a chart's i-th series when runs are compared (colour then tells the runs apart). */
export function seriesDash(index: number): number[] | undefined {
  return DASHES[index % DASHES.length];
}

export function tableOf(spec: ChartSpec, run: RunData): Table {
  return spec.table === 'train' ? run.train : run.eval;
}

export function xsOf(spec: ChartSpec, run: RunData, axis: XAxis): number[] {
  const table = tableOf(spec, run);
  return axis === 'step' ? table.steps : table.times;
}

/** Debiased EMAs per run and metric, extended incrementally as columns grow. */
export class SmoothedColumns {
  private readonly emas = new Map<string, DebiasedEma>();

  of(run: RunData, key: string, raw: Column, weight: number): Column {
    const id = `${run.header.dir}\u0000${key}`;
    let ema = this.emas.get(id);
    if (!ema || ema.weight !== weight || ema.output.length > raw.length) {
      ema = new DebiasedEma(weight);
      this.emas.set(id, ema);
    }
    ema.pushAll(raw, ema.output.length);
    return ema.output;
  }

  clear(): void {
    this.emas.clear();
  }
}

/** Per run: a line per series (coloured by series, or by run when comparing), then its reference line. */
export function buildLines(spec: ChartSpec, runs: readonly RunData[], style: LineStyle, smoothed: SmoothedColumns): Line[] {
  const lines: Line[] = [];
  runs.forEach((run, runIndex) => {
    spec.series.forEach((series, seriesIndex) => {
      const column = (): Column => tableOf(spec, run).columns.get(series.key) ?? EMPTY;
      const smooth = spec.smooth && style.smoothing > 0;
      lines.push({
        label: style.compare ? `${run.header.name} · ${series.label}` : series.label,
        colour: style.compare ? style.runColour(runIndex) : style.seriesColour(seriesIndex),
        dash: style.compare ? seriesDash(seriesIndex) : undefined,
        raw: column,
        shown: smooth ? () => smoothed.of(run, series.key, column(), style.smoothing) : column,
        smoothed: smooth,
        reference: false,
      });
    });
    const reference = spec.reference?.(run.header);
    if (reference) {
      const constant = (): Column => new Array<number | null>(xsOf(spec, run, style.xAxis).length).fill(reference.value);
      lines.push({
        label: style.compare ? `${run.header.name} · ${reference.label}` : reference.label,
        colour: style.compare ? style.runColour(runIndex) : style.foreground,
        dash: [3, 4], raw: constant, shown: constant, smoothed: false, reference: true,
      });
    }
  });
  return lines;
}

/** Every run's x column with each line's shown and then raw columns, on one shared x: all shown
 * columns first (in line order), then all raw ones. */
export function alignLines(spec: ChartSpec, runs: readonly RunData[], lines: readonly Line[], axis: XAxis): Aligned {
  const linesPerRun = lines.length / Math.max(1, runs.length);
  const tables: Aligned[] = runs.map((run, r) => {
    const own = lines.slice(r * linesPerRun, (r + 1) * linesPerRun);
    const xs = xsOf(spec, run, axis);
    const pad = (column: Column): Column => (column.length === xs.length ? column
      : [...column, ...new Array<null>(Math.max(0, xs.length - column.length)).fill(null)].slice(0, xs.length));
    return { xs, ys: [...own.map((line) => pad(line.shown())), ...own.map((line) => pad(line.raw()))] };
  });
  if (tables.length === 1) return tables[0] as Aligned;
  // compare mode: columns come back grouped by run; reorder into all shown, then all raw
  const merged = alignTables(tables);
  const shown: Column[] = [];
  const raw: Column[] = [];
  let offset = 0;
  for (let r = 0; r < tables.length; r++) {
    shown.push(...merged.ys.slice(offset, offset + linesPerRun));
    raw.push(...merged.ys.slice(offset + linesPerRun, offset + 2 * linesPerRun));
    offset += 2 * linesPerRun;
  }
  return { xs: merged.xs, ys: [...shown, ...raw] };
}

/**
 * The range of a chart that follows its run: every point of the runs so far, train and eval alike,
 * so an eval chart with its first point only spans the run, and every chart marks the same steps.
 */
export function followRange(runs: readonly RunData[], axis: XAxis, first?: number, last?: number): [number, number] | null {
  let lo = first ?? Infinity;
  let hi = last ?? -Infinity;
  for (const run of runs) {
    for (const table of [run.train, run.eval]) {
      const xs = axis === 'step' ? table.steps : table.times;
      if (!xs.length) continue;
      lo = Math.min(lo, xs[0] as number);
      hi = Math.max(hi, xs.at(-1) as number);
    }
  }
  return Number.isFinite(lo) && Number.isFinite(hi) ? [lo, hi] : null;
}

/**
 * The visible window's rows at full resolution (not the decimated display): the x column (step,
 * or wall time), then each data series raw, then smoothed where smoothing applies, each header
 * naming the run. Reference lines are constants, not data: left out.
 */
export function visibleCsv(spec: ChartSpec, runs: readonly RunData[], lines: readonly Line[], full: Aligned,
  window: [number, number] | null, axis: XAxis, weight: number): string {
  const { xs, ys } = full;
  const [x0, x1] = window ?? [-Infinity, Infinity];
  const count = lines.length;
  const linesPerRun = count / Math.max(1, runs.length);
  const header = [axis === 'step' ? 'step' : 'wall_time_s'];
  const columns: { index: number; raw: boolean }[] = [];
  lines.forEach((line, i) => {
    if (line.reference) return;
    const run = runs[Math.floor(i / linesPerRun)];
    const series = spec.series[i % linesPerRun]?.label ?? line.label;
    const name = `${run?.header.name ?? ''} · ${series}`;
    header.push(line.smoothed ? `${name} (raw)` : name);
    columns.push({ index: i, raw: true });
    if (line.smoothed) {
      header.push(`${name} (smoothed ${weight})`);
      columns.push({ index: i, raw: false });
    }
  });
  const rows = [header.map(csvCell).join(',')];
  for (let k = 0; k < xs.length; k++) {
    const x = xs[k] as number;
    if (x < x0 || x > x1) continue;
    rows.push([String(x), ...columns.map((c) => numberCell(ys[c.raw ? c.index + count : c.index]?.[k]))].join(','));
  }
  return `${rows.join('\n')}\n`;
}

export function csvCell(text: string): string {
  // Quote, and defuse spreadsheet formulas in names that start with = + - @.
  const safe = /^[=+\-@]/.test(text) ? `'${text}` : text;
  return `"${safe.replace(/"/g, '""')}"`;
}

export function numberCell(value: number | null | undefined): string {
  return value === null || value === undefined ? '' : String(value);
}

/** A file-name part: word characters, dot and dash; anything else becomes an underscore. */
export function safeName(id: string): string {
  return id.replace(/[^\w.-]+/g, '_');
}

/** A logarithmic y axis can show these columns: every value present is > 0 (and there is one). */
export function allPositive(columns: readonly Column[]): boolean {
  let any = false;
  for (const column of columns) {
    for (const value of column) {
      if (value === null || value === undefined) continue;
      if (!(value > 0)) return false;
      any = true;
    }
  }
  return any;
}
