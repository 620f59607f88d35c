/**
 * A run's metric history as typed columns: one array of numbers per metric, not one object per line.
 * A 1 GB metrics.jsonl holds about 1.6 million lines of ~27 numbers; as objects they took ~3 GB of
 * the extension host, as columns a tenth of that. Train and eval lines are tables of their own (an
 * eval metric takes no room on train lines), with the file's order of lines kept beside them. A
 * chunk of a column is Float32 while every value it holds is a float32 (the trainer's tensors' values
 * are) and becomes Float64 at the first value that is not, so nothing is rounded. NaN marks a metric
 * a line does not have (JSON has no NaN, so no line can mean it).
 */
import type { MetricRecord } from '../../contracts/run-directory';

/** A dashboard gets a run's history whole up to this many lines, a longer one reduced (MetricHistory.reduced). */
export const SNAPSHOT_ALL_LINES_UP_TO = 50_000;
/**
 * Runs of consecutive lines a reduced history keeps the extremes of, per kind (train, eval): each
 * metric then has 600 to 1,200 points (first, last, lowest, highest of each run), about what
 * TensorBoard keeps of a scalar series (1,000 by default).
 */
export const SNAPSHOT_BUCKETS = 300;

const KINDS = ['train', 'eval'] as const;
/** Rows per chunk: columns grow a chunk at a time, never copied whole, never more than a chunk too large. */
const CHUNK = 65_536;

type Chunk = Float32Array | Float64Array | Uint8Array | Uint32Array;

/** Numbers by row, in chunks made by `make` (a chunk of a metric column may widen: see NumberColumn). */
class ChunkedColumn {
  protected readonly chunks: Chunk[] = [];
  constructor(private readonly make: () => Chunk) {}

  get(row: number): number {
    const chunk = this.chunks[Math.floor(row / CHUNK)];
    return chunk ? (chunk[row % CHUNK] as number) : Number.NaN;
  }

  set(row: number, value: number): void {
    (this.chunkFor(row))[row % CHUNK] = value;
  }

  protected chunkFor(row: number): Chunk {
    const index = Math.floor(row / CHUNK);
    while (this.chunks.length <= index) this.chunks.push(this.make());
    return this.chunks[index] as Chunk;
  }

  get bytes(): number {
    return this.chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
  }
}

/** A metric's values: a chunk is Float32 until a value in it is not a float32, then Float64. */
class NumberColumn extends ChunkedColumn {
  constructor() {
    super(() => new Float32Array(CHUNK).fill(Number.NaN));
  }

  override set(row: number, value: number): void {
    let chunk = this.chunkFor(row);
    if (chunk instanceof Float32Array && Math.fround(value) !== value) {
      chunk = Float64Array.from(chunk);
      this.chunks[Math.floor(row / CHUNK)] = chunk;
    }
    chunk[row % CHUNK] = value;
  }
}

/** The lines of one kind: steps, times, and a column per metric in the order metrics first appeared. */
class MetricTable {
  readonly steps = new ChunkedColumn(() => new Float64Array(CHUNK));
  readonly times = new ChunkedColumn(() => new Float64Array(CHUNK));
  readonly columns = new Map<string, NumberColumn>();
  /** Best-of-N curves (eval lines), by row */
  readonly curves = new Map<number, number[]>();
  length = 0;

  add(record: MetricRecord): number {
    const row = this.length++;
    this.steps.set(row, record.step);
    this.times.set(row, record.time);
    for (const key in record) {
      if (key === 'kind' || key === 'step' || key === 'time') continue;
      const value = record[key];
      if (typeof value === 'number') {
        let column = this.columns.get(key);
        if (!column) {
          column = new NumberColumn();
          this.columns.set(key, column);
        }
        column.set(row, value);
      } else if (key === 'bon_curve' && Array.isArray(value)) {
        this.curves.set(row, value);
      }
    }
    return row;
  }

  record(kind: MetricRecord['kind'], row: number): MetricRecord {
    const record: MetricRecord = { kind, step: this.steps.get(row), time: this.times.get(row) };
    for (const [key, column] of this.columns) {
      const value = column.get(row);
      if (!Number.isNaN(value)) record[key] = value;
    }
    const curve = this.curves.get(row);
    if (curve) record.bon_curve = curve;
    return record;
  }

  get bytes(): number {
    let total = this.steps.bytes + this.times.bytes;
    for (const column of this.columns.values()) total += column.bytes;
    return total;
  }

  /**
   * Which rows a reduction keeps: all when there are at most 2 × `buckets`; else, in each of
   * `buckets` runs of consecutive rows, the first, the last, and each metric's lowest and highest.
   */
  kept(buckets: number): Uint8Array {
    const keep = new Uint8Array(this.length);
    if (this.length <= 2 * buckets) return keep.fill(1);
    for (let b = 0; b < buckets; b++) {
      const from = Math.floor((b * this.length) / buckets);
      const to = Math.floor(((b + 1) * this.length) / buckets);
      if (to <= from) continue;
      keep[from] = 1;
      keep[to - 1] = 1;
      for (const column of this.columns.values()) {
        let low = -1;
        let high = -1;
        let lowValue = Number.POSITIVE_INFINITY;
        let highValue = Number.NEGATIVE_INFINITY;
        for (let row = from; row < to; row++) {
          const value = column.get(row);
          if (Number.isNaN(value)) continue;
          if (value < lowValue) [low, lowValue] = [row, value];
          if (value > highValue) [high, highValue] = [row, value];
        }
        if (low >= 0) keep[low] = 1;
        if (high >= 0) keep[high] = 1;
      }
    }
    return keep;
  }
}

/** Which lines a reduced history keeps, and of how many. */
export interface Reduction {
  records: MetricRecord[];
  /** lines in the history */
  lines: number;
}

export class MetricHistory {
  private tables = [new MetricTable(), new MetricTable()];
  /** per line of the file, in order: its kind (an index into KINDS) and its row in that kind's table */
  private kinds = new ChunkedColumn(() => new Uint8Array(CHUNK));
  private rows = new ChunkedColumn(() => new Uint32Array(CHUNK));
  length = 0;

  add(record: MetricRecord): void {
    const kind = record.kind === 'eval' ? 1 : 0;
    const line = this.length++;
    this.kinds.set(line, kind);
    this.rows.set(line, (this.tables[kind] as MetricTable).add(record));
  }

  addAll(records: readonly MetricRecord[]): void {
    for (const record of records) this.add(record);
  }

  /** Line `line` (0-based) as the reader gave it (its metrics in the order they first appeared in the run). */
  record(line: number): MetricRecord {
    const kind = this.kinds.get(line);
    return (this.tables[kind] as MetricTable).record(KINDS[kind] as MetricRecord['kind'], this.rows.get(line));
  }

  slice(from: number, to = this.length): MetricRecord[] {
    const out: MetricRecord[] = [];
    for (let line = Math.max(0, from); line < Math.min(to, this.length); line++) out.push(this.record(line));
    return out;
  }

  clear(): void {
    this.tables = [new MetricTable(), new MetricTable()];
    this.kinds = new ChunkedColumn(() => new Uint8Array(CHUNK));
    this.rows = new ChunkedColumn(() => new Uint32Array(CHUNK));
    this.length = 0;
  }

  /** Memory the columns take, in bytes. */
  get bytes(): number {
    return this.kinds.bytes + this.rows.bytes + this.tables.reduce((sum, table) => sum + table.bytes, 0);
  }

  /**
   * The whole history when it has at most `limit` lines; else, per kind, `buckets` runs of
   * consecutive lines, each kept as its first and last line and the lines that hold any metric's
   * lowest and highest value in it: real lines, in file order, every spike and dip still drawn, at
   * most buckets × (2 + 2 × metrics) lines per kind whatever the run's length.
   */
  reduced(limit: number, buckets: number): Reduction {
    if (this.length <= limit) return { records: this.slice(0), lines: this.length };
    const keep = this.tables.map((table) => table.kept(buckets));
    const records: MetricRecord[] = [];
    for (let line = 0; line < this.length; line++) {
      if ((keep[this.kinds.get(line)] as Uint8Array)[this.rows.get(line)]) records.push(this.record(line));
    }
    return { records, lines: this.length };
  }
}
