/**
 * Incremental reader of an append-only JSON Lines file: each read() returns only the records
 * appended since the last one, by byte offset — a growing file is never reread. A partial last
 * line waits for its newline; a line that is not JSON, or fails the validator, is skipped and
 * counted, never fatal. A file that shrank (a resumed run cut it back to a checkpoint) is read
 * again from the start, and the caller is told so.
 */
import { promises as fs } from 'node:fs';
import { LineProblem, type LineReader } from './readers';
import { NotARegularFile } from './regularFile';


/** Lines a reader could not use: how many, and the first (1-based line number and why). */
export interface SkipReport {
  count: number;
  firstLine: number;
  reason: string;
}

export interface TailResult<T> {
  records: T[];
  /** true when the file shrank or was replaced: previously returned records are void */
  reset: boolean;
  /** lines skipped in this read because they were not JSON or failed validation */
  skipped: number;
}

/** Bounds one read so that a 100 MB file is consumed in slices, keeping the editor responsive. */
export const DEFAULT_MAX_BYTES_PER_READ = 8 * 1024 * 1024;

export class JsonlTail<T> {
  private offset = 0;
  private pending = Buffer.alloc(0);
  private identity: string | undefined;
  /** total lines skipped since the start (garbage or lines the reader cannot use) */
  skippedTotal = 0;
  lastSkipReason: string | undefined;
  /** the first skipped line since the start, for "N lines skipped, first at line L: reason" */
  firstSkip: { line: number; reason: string } | undefined;
  /** complete lines consumed since the start (blank ones too): the next line's number is this + 1 */
  private lines = 0;
  constructor(
    readonly path: string,
    /** what a line must hold to be used (src/core/readers.ts); it says why a line is unusable */
    private readonly reader: LineReader<T>,
    private readonly maxBytesPerRead = DEFAULT_MAX_BYTES_PER_READ,
  ) {}

  /** What was skipped since the start, or undefined when every line was read. */
  get skips(): SkipReport | undefined {
    return this.firstSkip ? { count: this.skippedTotal, firstLine: this.firstSkip.line, reason: this.firstSkip.reason } : undefined;
  }

  /** Bytes consumed so far (complete lines only count once their newline arrived). */
  get position(): number {
    return this.offset - this.pending.length;
  }

  async read(): Promise<TailResult<T>> {
    let handle: fs.FileHandle;
    try {
      // Only a regular file is opened: opening a FIFO would block a thread of Node's small pool
      // until a writer came, and with it every file access of the process.
      const kind = await fs.stat(this.path);
      if (!kind.isFile()) throw new NotARegularFile(this.path);
      handle = await fs.open(this.path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        const reset = this.offset > 0;
        this.restart(undefined);
        return { records: [], reset, skipped: 0 };
      }
      throw error;
    }
    try {
      const stat = await handle.stat();
      const identity = `${stat.dev}:${stat.ino}`;
      let reset = this.rewound;
      this.rewound = false;
      if ((this.identity !== undefined && identity !== this.identity) || stat.size < this.offset) {
        this.restart(identity);
        reset = true;
      }
      this.identity = identity;
      const available = stat.size - this.offset;
      if (available <= 0) return { records: [], reset, skipped: 0 };
      const length = Math.min(available, this.maxBytesPerRead);
      const chunk = Buffer.alloc(length);
      const { bytesRead } = await handle.read(chunk, 0, length, this.offset);
      this.offset += bytesRead;
      return { ...this.parse(chunk.subarray(0, bytesRead)), reset };
    } finally {
      await handle.close();
    }
  }

  /** Read until the end of the file as it is now (several bounded slices). */
  async readAll(): Promise<TailResult<T>> {
    const all: T[] = [];
    let reset = false;
    let skipped = 0;
    await this.readEach((slice) => {
      if (slice.reset) {
        all.length = 0;
        reset = true;
      }
      for (const record of slice.records) all.push(record);
      skipped += slice.skipped;
    });
    return { records: all, reset, skipped };
  }

  /**
   * Read until the end of the file as it is now, handing each bounded slice to `take` as it is
   * parsed: a caller that keeps only what it needs of each line never holds a whole large file's
   * records at once. A slice with `reset` voids every record handed before it.
   */
  async readEach(take: (slice: TailResult<T>) => void): Promise<void> {
    for (;;) {
      const before = this.offset;
      take(await this.read());
      if (this.offset === before || this.offset - before < this.maxBytesPerRead) break;
    }
  }

  /**
   * The first read of a file whose history nobody needs (the runs view wants the latest lines only):
   * reads the file's last `initialBytes`, then twice as much, … until `enough` says the records found
   * there suffice or `maxBytes` were read, and continues from the end of the file from then on. Its
   * cost depends on the lines' size, not the file's: a 1 GB metrics.jsonl costs what a 1 MB one does.
   * Lines before the window are never read, so skips are counted in what was read, with line
   * numbers counted from the window's start (`lineNumbersFromStart` is false then).
   */
  async readLatest(enough: (records: T[]) => boolean, initialBytes = 64 * 1024,
    maxBytes = this.maxBytesPerRead): Promise<TailResult<T>> {
    for (let window = Math.max(1, initialBytes); ; window *= 2) {
      const size = await this.fileSize();
      const whole = size === undefined || size <= window;
      // Each try reads its window through the one parser; a larger window starts over.
      const result = await this.readFrom(whole ? 0 : size - window);
      if (whole || window >= maxBytes || enough(result.records)) return result;
    }
  }

  /** Whether line numbers in skip reports count from the file's first line (false after readLatest skipped a head). */
  lineNumbersFromStart = true;

  private async fileSize(): Promise<number | undefined> {
    try {
      const kind = await fs.stat(this.path);
      if (!kind.isFile()) throw new NotARegularFile(this.path);
      return kind.size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Read from `start` (a line's partial first part dropped) to the end of the file, as read() would. */
  private async readFrom(start: number): Promise<TailResult<T>> {
    this.restart(undefined);
    this.rewound = false;
    if (start === 0) return this.readAll();
    // The window's partial first line is dropped by parse(), up to its newline.
    this.offset = start;
    this.skipToNewline = true;
    this.lineNumbersFromStart = false;
    return this.readAll();
  }

  /**
   * Start again from the first byte on the next read, which then reports reset. For a cut-back that
   * the size cannot reveal (cut, then as many bytes appended): run.json's resume_count says so.
   */
  rewind(): void {
    this.restart(undefined);
    this.rewound = true;
  }

  private rewound = false;

  /** The next parsed bytes begin inside a line: drop them up to its newline. */
  private skipToNewline = false;

  private restart(identity: string | undefined): void {
    this.offset = 0;
    this.skipToNewline = false;
    this.lineNumbersFromStart = true;
    this.pending = Buffer.alloc(0);
    this.identity = identity;
    this.lines = 0;
    this.skippedTotal = 0;
    this.firstSkip = undefined;
  }

  private skip(reason: string): void {
    this.lastSkipReason = reason;
    this.firstSkip ??= { line: this.lines, reason };
  }

  private parse(chunk: Buffer): { records: T[]; skipped: number } {
    const data = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const records: T[] = [];
    let skipped = 0;
    let start = 0;
    if (this.skipToNewline) {
      const newline = data.indexOf(0x0a);
      if (newline < 0) {
        this.pending = Buffer.alloc(0);
        return { records, skipped };
      }
      start = newline + 1;
      this.skipToNewline = false;
    }
    for (;;) {
      const newline = data.indexOf(0x0a, start);
      if (newline < 0) break;
      const line = data.subarray(start, newline).toString('utf8').trim();
      start = newline + 1;
      this.lines++;
      if (!line) continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        skipped++;
        this.skip(`not JSON (${JSON.stringify(line.slice(0, 60))}${line.length > 60 ? '…' : ''})`);
        continue;
      }
      const read = this.reader(value);
      if (read instanceof LineProblem) {
        skipped++;
        this.skip(read.reason);
      } else {
        records.push(read);
      }
    }
    // Keep the partial last line for the next read (copy: the chunk buffer is not ours to keep).
    this.pending = Buffer.from(data.subarray(start));
    this.skippedTotal += skipped;
    return { records, skipped };
  }
}
