/**
 * Pure series helpers for the charts (no DOM, so Node unit tests run them too): TensorBoard's
 * debiased EMA smoothing and min/max decimation that keeps spikes visible.
 */

export type Column = (number | null)[];

/**
 * TensorBoard's smoothing: an EMA started at 0 and divided by (1 − w^k) after k finite points, so
 * the first points are not pulled towards zero. Non-finite points pass through and are skipped.
 * Incremental: push values as they arrive; the output array grows with them.
 */
export class DebiasedEma {
  private last = 0;
  private count = 0;
  readonly output: Column = [];

  constructor(readonly weight: number) {
    if (!(weight >= 0 && weight < 1)) throw new RangeError(`smoothing weight must be in [0, 1), got ${weight}`);
  }

  push(value: number | null | undefined): void {
    if (value === null || value === undefined || !Number.isFinite(value)) {
      this.output.push(value === undefined ? null : value);
      return;
    }
    this.last = this.last * this.weight + (1 - this.weight) * value;
    this.count += 1;
    this.output.push(this.weight === 0 ? value : this.last / (1 - this.weight ** this.count));
  }

  pushAll(values: readonly (number | null | undefined)[], from = 0): void {
    for (let i = from; i < values.length; i++) this.push(values[i]);
  }
}

export function smooth(values: readonly (number | null | undefined)[], weight: number): Column {
  const ema = new DebiasedEma(weight);
  ema.pushAll(values);
  return ema.output;
}

/** Index of the first x ≥ value in an ascending array. */
export function lowerBound(xs: readonly number[], value: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((xs[mid] as number) < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first x > value in an ascending array. */
export function upperBound(xs: readonly number[], value: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((xs[mid] as number) <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface Aligned {
  xs: number[];
  ys: Column[];
}

/**
 * Reduce aligned series to about 2 points per bucket over [x0, x1]: each bucket keeps, for every
 * series, its minimum and its maximum (in the order they occur), so a one-step spike survives at
 * any zoom. One point either side of the range is kept so lines run to the edges. Returns the
 * input unchanged when it already has few enough points.
 */
export function decimateMinMax(data: Aligned, x0: number, x1: number, buckets: number): Aligned {
  const { xs, ys } = data;
  const start = Math.max(0, lowerBound(xs, x0) - 1);
  const end = Math.min(xs.length, upperBound(xs, x1) + 1);
  if (end - start <= buckets * 2 || buckets < 1 || !(x1 > x0)) return data;
  const outX: number[] = [];
  const outY: Column[] = ys.map(() => []);
  const width = (x1 - x0) / buckets;
  let i = start;
  while (i < end) {
    const bucket = Math.floor(((xs[i] as number) - x0) / width);
    let j = i + 1;
    while (j < end && Math.floor(((xs[j] as number) - x0) / width) === bucket) j++;
    // the bucket is xs[i..j): its first and last x carry each series' extremes
    if (j - i <= 2) {
      for (let k = i; k < j; k++) {
        outX.push(xs[k] as number);
        ys.forEach((column, s) => (outY[s] as Column).push(column[k] ?? null));
      }
    } else {
      outX.push(xs[i] as number, xs[j - 1] as number);
      ys.forEach((column, s) => {
        let minIndex = -1;
        let maxIndex = -1;
        for (let k = i; k < j; k++) {
          const v = column[k];
          if (v === null || v === undefined || !Number.isFinite(v)) continue;
          if (minIndex < 0 || v < (column[minIndex] as number)) minIndex = k;
          if (maxIndex < 0 || v > (column[maxIndex] as number)) maxIndex = k;
        }
        const out = outY[s] as Column;
        if (minIndex < 0) out.push(null, null);
        else if (minIndex <= maxIndex) out.push(column[minIndex] as number, column[maxIndex] as number);
        else out.push(column[maxIndex] as number, column[minIndex] as number);
      });
    }
    i = j;
  }
  return { xs: outX, ys: outY };
}

/** Merge several (x, columns) tables on the union of their x values; missing cells are null. */
export function alignTables(tables: readonly Aligned[]): Aligned {
  const all = new Set<number>();
  for (const table of tables) for (const x of table.xs) all.add(x);
  const xs = [...all].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const ys: Column[] = [];
  for (const table of tables) {
    for (const column of table.ys) {
      const out: Column = new Array<number | null>(xs.length).fill(null);
      table.xs.forEach((x, i) => {
        out[index.get(x) as number] = column[i] ?? null;
      });
      ys.push(out);
    }
  }
  return { xs, ys };
}

/** The index of the value nearest `target` in an ascending list (steps or times), or null when empty. */
export function nearestIndex(values: readonly number[], target: number): number | null {
  if (!values.length) return null;
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((values[mid] as number) < target) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs((values[lo - 1] as number) - target) <= Math.abs((values[lo] as number) - target)) return lo - 1;
  return lo;
}

/**
 * Round tick values for a range: steps of 1, 2 or 5 times a power of ten, about `count` of them,
 * every tick inside [min, max] (so a Pareto axis reads 0, 0.1, 0.2 rather than −0.03, 0.12, 0.27).
 */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || max <= min) return Number.isFinite(min) ? [min] : [];
  const rough = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = Math.ceil(min / step) * step; t <= max + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)) || 0); // never −0
  return ticks;
}

/**
 * A y range that ignores outliers (TensorBoard's "ignore outliers in chart scaling"): the 2nd to
 * 98th percentile of the finite values, padded by 5%; the plain extent when there are few values.
 */
export function robustRange(columns: readonly (readonly (number | null | undefined)[])[], lower = 0.02, upper = 0.98): [number, number] | null {
  const values: number[] = [];
  for (const column of columns) for (const v of column) if (v !== null && v !== undefined && Number.isFinite(v)) values.push(v);
  if (values.length === 0) return null;
  values.sort((a, b) => a - b);
  const at = (q: number) => values[Math.min(values.length - 1, Math.max(0, Math.round(q * (values.length - 1))))] as number;
  let [lo, hi] = values.length < 20 ? [values[0] as number, values.at(-1) as number] : [at(lower), at(upper)];
  if (hi <= lo) {
    lo -= 1;
    hi += 1;
  }
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

/** A plot's range over these values (and `include`, such as 0), with a 5% margin; never empty. */
export function extent(values: number[], include?: number): [number, number] {
  let min = include ?? Infinity;
  let max = include ?? -Infinity;
  for (const value of values) {
    if (value < min) min = value;
    if (value > max) max = value;
  }
  if (!(max > min)) {
    min -= 1;
    max += 1;
  }
  const margin = (max - min) * 0.05;
  return [min - margin, max + margin];
}
