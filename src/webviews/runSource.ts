/** What the panels need to know about a run: its RunState from the store, or run.json when the store has none. */
import { join } from 'node:path';
import type { RunState, RunStore } from '../core/runStore';
import { displayStatus, readRunMetaReading } from '../core/runStore';
import { JsonlTail, type SkipReport } from '../core/jsonlTail';
import type { LineReader } from '../core/readers';
import { isPidAlive } from '../core/process';

export async function runState(store: RunStore, dir: string): Promise<RunState | undefined> {
  const known = store.get(dir);
  if (known) return known;
  const reading = await readRunMetaReading(dir);
  if (typeof reading === 'string') return undefined;
  return { dir, meta: reading.meta, status: displayStatus(reading.meta, Date.now(), isPidAlive), skippedLines: 0, metaNotes: reading.notes };
}

/**
 * One run's JSONL file as a stream for one webview: `read` returns the new lines, or all of them
 * again after a reset (the file was cut back on resume), serialised so reads never interleave.
 */
export class RecordStream<T> {
  private tail: JsonlTail<T>;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly path: string, private readonly validate: LineReader<T>) {
    this.tail = new JsonlTail(path, validate);
  }

  static of<T>(dir: string, file: string, validate: LineReader<T>): RecordStream<T> {
    return new RecordStream(join(dir, file), validate);
  }

  /** Lines skipped so far (for the view's notice), or undefined. */
  get skips(): SkipReport | undefined {
    return this.tail.skips;
  }

  /** Start over: the next read returns every line from the beginning. */
  restart(): void {
    this.tail = new JsonlTail(this.path, this.validate);
  }

  read(): Promise<{ records: T[]; reset: boolean }> {
    const next = this.chain.then(async () => {
      const result = await this.tail.readAll();
      return { records: result.records, reset: result.reset };
    });
    this.chain = next.catch(() => undefined);
    return next;
  }
}
