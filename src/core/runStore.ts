/**
 * The run store: finds run folders under the runs directories, keeps each run's run.json current
 * and tails its metrics by byte offset. File watching triggers quick refreshes; polling makes it
 * correct where watching is unreliable (network drives). No `vscode` here: the CLI uses it too.
 */
import { lstatSync, realpathSync, watch, type FSWatcher, promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { RUN_FOLDER, TERMINAL_STATUSES, type MetricRecord, type ReadStatus, type RunMeta } from '../../contracts/run-directory';
import { Emitter, type Disposable } from './emitter';
import { distinctLabels, readAnnotations, type RunAnnotations } from './annotations';
import { JsonlTail, type SkipReport, type TailResult } from './jsonlTail';
import { NotARegularFile, readRegularFile } from './regularFile';
import { isPidAlive, localHost } from './process';
import { MetricHistory } from './metricHistory';
import { LineProblem, readMetricLine, readRunMetaValue, type RunMetaReading } from './readers';

/** What the UI shows: the trainer's status (any text a newer trainer wrote), or `lost` for a run that stopped answering. */
export type DisplayStatus = ReadStatus | 'lost';

/** A running run whose heartbeat is older than this, and whose pid is gone, is lost. */
export const HEARTBEAT_STALE_MS = 30_000;
/** run.json holds a config and a few lists: anything this large is something else. */
export const MAX_RUN_JSON_BYTES = 16 * 2 ** 20;

export interface RunState {
  /** the run folder's absolute path: the run's identity */
  dir: string;
  meta: RunMeta;
  status: DisplayStatus;
  /** the latest train line and the latest eval line */
  latest?: MetricRecord;
  latestEval?: MetricRecord;
  /** metric lines skipped as garbage or schema violations */
  skippedLines: number;
  /** why run.json could not be read, when it could not (the previous meta is kept) */
  readProblem?: string;
  /** what the lenient reader had to say about run.json (unknown status or fields, unusable ones) */
  metaNotes: string[];
  /** the editor's own notes on the run (bond-studio.json): label, note, tags */
  annotations?: RunAnnotations;
  /** how the run is called everywhere: its label or name, with what tells it from runs of the same name */
  label?: string;
}

/** How a run is called in every view (the store sets `label`; a state made elsewhere falls back to its name). */
export function runLabel(run: Pick<RunState, 'label' | 'meta' | 'annotations'>): string {
  return run.label ?? run.annotations?.label ?? run.meta.name;
}

export interface MetricsEvent {
  dir: string;
  records: MetricRecord[];
  /** the file was cut back (resume): records seen before are void */
  reset: boolean;
}

export interface RunStoreOptions {
  runsDirectories: () => string[];
  pollIntervalMs?: number;
  heartbeatStaleMs?: number;
  now?: () => number;
  pidAlive?: (pid: number) => boolean;
  watchFiles?: boolean;
  /** ended runs whose folder a pass stats, in turn (default SETTLED_STATS_PER_PASS) */
  settledStatsPerPass?: number;
  /** ended, unchanged runs a pass reads in full all the same, in turn (default RECHECKED_PER_PASS) */
  recheckedPerPass?: number;
}

export function displayStatus(meta: RunMeta, nowMs: number, pidAlive: (pid: number) => boolean,
  staleMs = HEARTBEAT_STALE_MS): DisplayStatus {
  if (meta.status !== 'running' && meta.status !== 'starting') return meta.status;
  const stale = nowMs - meta.heartbeat_at * 1000 > staleMs;
  if (!stale) return meta.status;
  // On this machine a live pid means it is alive but slow; elsewhere the heartbeat is all we have.
  if (meta.host === localHost && pidAlive(meta.pid)) return meta.status;
  return 'lost';
}

/** A run whose whole metric history the store keeps while someone holds it (a dashboard). */
interface Retained {
  holders: number;
  history: MetricHistory;
  /** the history holds every line read so far, from the first */
  complete: boolean;
  /** the next read of the run starts over from the first line, to fill the history */
  needsRewind: boolean;
  /** called once the history is complete */
  waiting: (() => void)[];
}

interface Tracked {
  state: RunState;
  metaStamp: string;
  annotationsStamp?: string;
  tail: JsonlTail<MetricRecord>;
  watcher?: FSWatcher;
  /** the run folder's own stat when it was last read in full: an ended run whose folder still has it is unchanged */
  folderStamp?: string;
  /** no metrics line read yet: the first read takes the file's last lines only, unless a view holds the history */
  unread: boolean;
}

/** Run folders stat'ed at once when a pass checks which ended runs changed. */
const STAT_BATCH = 256;
/** Ended, unchanged runs that a pass reads in full all the same, in turn (a file rewritten in place). */
export const RECHECKED_PER_PASS = 50;
/** Ended runs whose folder a pass stats, in turn (the others wait for their turn or the file watcher). */
export const SETTLED_STATS_PER_PASS = 2000;
/** Runs read at once in a pass. */
const READ_BATCH = 32;

/** `work` on every item, at most `size` at once. */
async function inBatches<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(work));
}

/** A folder's identity and last change: a file renamed into it (how run.json and bond-studio.json are replaced) or removed changes it. */
async function folderStamp(dir: string): Promise<string | undefined> {
  try {
    const stat = await fs.stat(dir);
    return `${stat.mtimeMs}:${stat.ctimeMs}:${stat.ino}`;
  } catch {
    return undefined;
  }
}

export class RunStore implements Disposable {
  private readonly tracked = new Map<string, Tracked>();
  private readonly retained = new Map<string, Retained>();
  /** held runs that lie outside the runs directories */
  private outside = new Set<string>();
  private readonly dirWatchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private recheckCursor = 0;
  private statCursor = 0;
  /** run folders the file watcher saw change since the last pass: read whatever their state */
  private reported = new Set<string>();
  private again = false;
  private debounce: NodeJS.Timeout | undefined;
  private readonly changed = new Emitter<RunState[]>();
  private readonly removed = new Emitter<string[]>();
  private readonly metrics = new Emitter<MetricsEvent>();
  /** runs added or updated (status, step, latest metrics) */
  readonly onDidChangeRuns = this.changed.event;
  readonly onDidRemoveRuns = this.removed.event;
  readonly onDidAppendMetrics = this.metrics.event;

  constructor(private readonly options: RunStoreOptions) {}

  /** The runs of the runs directories, newest first (a run outside them that a view holds is not listed). */
  get runs(): RunState[] {
    return [...this.tracked.values()].filter((t) => !this.outside.has(t.state.dir)).map((t) => t.state)
      .sort((a, b) => b.meta.created_at - a.meta.created_at);
  }

  get(dir: string): RunState | undefined {
    return this.tracked.get(dir)?.state;
  }

  /**
   * Keep every metric line of `dir` in memory while the handle is held: a dashboard shows the whole
   * history, and the store's own tail stays the one reader of metrics.jsonl (appends reach every
   * holder through onDidAppendMetrics). A run outside the runs directories is followed while held.
   */
  retainMetrics(dir: string): Disposable {
    let entry = this.retained.get(dir);
    if (!entry) {
      entry = { holders: 0, history: new MetricHistory(), complete: false, needsRewind: true, waiting: [] };
      this.retained.set(dir, entry);
      this.scheduleRefresh();
    }
    entry.holders++;
    const held = entry;
    let released = false;
    return {
      dispose: () => {
        if (released) return;
        released = true;
        if (--held.holders === 0 && this.retained.get(dir) === held) this.retained.delete(dir);
      },
    };
  }

  /**
   * Resolves once a held run's history is complete (at once if it is), or after `timeoutMs`: a view
   * waits for this one run, never for the store's polling loop, which a fast run keeps busy.
   */
  whenHistory(dir: string, timeoutMs: number): Promise<void> {
    const entry = this.retained.get(dir);
    if (!entry || entry.complete) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      entry.waiting.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Every metric line of a retained run, in file order, once the store has read them all; undefined before. */
  metricsHistory(dir: string): MetricHistory | undefined {
    const entry = this.retained.get(dir);
    return entry?.complete ? entry.history : undefined;
  }

  /** The lines of a run's metrics.jsonl its reader could not use, or undefined when there were none. */
  metricsSkips(dir: string): SkipReport | undefined {
    return this.tracked.get(dir)?.tail.skips;
  }

  /** Start polling (and watching). The first refresh has completed when the promise resolves. */
  async start(): Promise<void> {
    // The timer first: a pass that fails must not stop the polling for good.
    this.timer = setInterval(() => void this.refresh().catch(() => undefined), this.options.pollIntervalMs ?? 1000);
    await this.refresh();
  }

  /** Refresh now; concurrent calls coalesce into one more pass. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        await this.pass();
      } while (this.again);
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private scheduleRefresh(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.refresh(), 50);
  }

  private async pass(): Promise<void> {
    const found = new Set<string>();
    /** folders to look at this pass: new, active or changed runs (an ended, unchanged run is not read) */
    const toRead: string[] = [];
    const settled: string[] = [];
    const reported = this.reported;
    this.reported = new Set();
    for (const root of this.options.runsDirectories()) {
      let entries: string[];
      try {
        entries = await fs.readdir(root);
      } catch {
        continue; // no runs yet
      }
      this.watchDirectory(root);
      for (const entry of entries) {
        const dir = join(root, entry);
        const tracked = this.tracked.get(dir);
        if (tracked?.folderStamp !== undefined && this.settled(tracked) && !reported.has(dir)) {
          found.add(dir);
          settled.push(dir);
        } else {
          toRead.push(dir);
        }
      }
    }
    // Ended runs: a file renamed into the folder (how run.json and bond-studio.json are replaced)
    // changes the folder's stat. At most SETTLED_STATS_PER_PASS of them are stat'ed a pass, in turn,
    // so that a poll costs the same with 10,000 runs as with 2,000 (the file watcher reports the
    // folders it sees change at once); and a few are read in full, in turn, for a file rewritten in
    // place, which leaves the folder's stat as it was.
    const turn = (cursor: number, count: number) =>
      Array.from({ length: Math.min(count, settled.length) }, (_, i) => settled[(cursor + i) % settled.length]!);
    const rechecked = this.options.recheckedPerPass ?? RECHECKED_PER_PASS;
    const statted = this.options.settledStatsPerPass ?? SETTLED_STATS_PER_PASS;
    const reread = new Set(turn(this.recheckCursor, rechecked));
    const stats = turn(this.statCursor, statted).filter((dir) => !reread.has(dir));
    this.recheckCursor = settled.length ? (this.recheckCursor + rechecked) % settled.length : 0;
    this.statCursor = settled.length ? (this.statCursor + statted) % settled.length : 0;
    toRead.push(...reread);
    await inBatches(stats, STAT_BATCH, async (dir) => {
      if ((await folderStamp(dir)) !== this.tracked.get(dir)?.folderStamp) toRead.push(dir);
    });
    await inBatches(toRead, STAT_BATCH, async (dir) => {
      try {
        await fs.access(join(dir, RUN_FOLDER.run));
        found.add(dir);
      } catch {
        found.delete(dir); // not (or no longer) a run folder
      }
    });
    const outside = new Set<string>();
    for (const dir of this.retained.keys()) {
      if (found.has(dir)) continue;
      try {
        await fs.access(join(dir, RUN_FOLDER.run));
        found.add(dir); // held by a view though outside the runs directories
        outside.add(dir);
      } catch {
        // gone: the view says so when it finds no run
      }
    }
    this.outside = outside;
    const changed: RunState[] = [];
    const reading = [...new Set([...toRead, ...outside])].filter((dir) => found.has(dir));
    // Runs are read a few at a time: each waits on its files, not on the other runs'.
    await inBatches(reading, READ_BATCH, async (dir) => {
      // A problem belongs to its run (shown on its row); the other runs are listed all the same.
      let updated: boolean;
      try {
        updated = await this.update(dir);
      } catch (error) {
        updated = this.markUnreadable(dir, `cannot read this run: ${(error as Error).message}`);
      }
      const state = this.tracked.get(dir)?.state;
      if (updated && state) changed.push(state);
    });
    const gone = [...this.tracked.keys()].filter((dir) => !found.has(dir));
    for (const dir of gone) {
      this.tracked.get(dir)?.watcher?.close();
      this.tracked.delete(dir);
    }
    // Labels depend on every run (two of one name are told apart): a label that moved is a change.
    // Only a run that changed, came or went can move one.
    if (changed.length || gone.length) this.relabel(changed);
    if (changed.length) this.changed.fire(changed);
    if (gone.length) this.removed.fire(gone);
  }

  private relabel(changed: RunState[]): void {
    const states = [...this.tracked.values()].map((t) => t.state);
    const labels = distinctLabels(states.map((s) => ({ dir: s.dir, name: s.meta.name, label: s.annotations?.label, createdAt: s.meta.created_at })));
    const listed = new Set(changed);
    for (const state of states) {
      const label = labels.get(state.dir) ?? state.meta.name;
      if (state.label === label) continue;
      state.label = label;
      if (!listed.has(state)) changed.push(state);
    }
  }

  /**
   * A run that changes only when its folder does: ended (by the trainer's word), read without a
   * problem, its history held by no view. Its metrics no longer grow, and run.json and
   * bond-studio.json are replaced by rename (a resume rewrites run.json first), which the folder's
   * stat shows.
   */
  private settled(tracked: Tracked): boolean {
    return (TERMINAL_STATUSES as readonly string[]).includes(tracked.state.status) && tracked.state.readProblem === undefined
      && !this.retained.has(tracked.state.dir) && !tracked.unread;
  }

  /** Re-read one run; true when anything the UI shows changed. */
  private async update(dir: string): Promise<boolean> {
    // Taken before anything is read: a change while reading shows at the next pass.
    const stampBefore = await folderStamp(dir);
    const changed = await this.read(dir);
    const tracked = this.tracked.get(dir);
    if (tracked) tracked.folderStamp = stampBefore;
    return changed;
  }

  private async read(dir: string): Promise<boolean> {
    const now = (this.options.now ?? Date.now)();
    const pidAlive = this.options.pidAlive ?? isPidAlive;
    let tracked = this.tracked.get(dir);
    let changed = false;
    let stamp = '';
    try {
      const stat = await fs.stat(join(dir, RUN_FOLDER.run));
      stamp = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    } catch {
      return false;
    }
    if (!tracked || tracked.metaStamp !== stamp) {
      const reading = await readRunMetaReading(dir);
      if (typeof reading === 'string') {
        // Shown on the run's own row (read again at the next change of run.json).
        const marked = this.markUnreadable(dir, reading);
        const again = this.tracked.get(dir);
        if (again) again.metaStamp = stamp;
        return marked;
      } else if (!tracked) {
        const { meta, notes } = reading;
        tracked = {
          state: { dir, meta, status: displayStatus(meta, now, pidAlive, this.options.heartbeatStaleMs), skippedLines: 0, metaNotes: notes },
          metaStamp: stamp,
          tail: new JsonlTail(join(dir, RUN_FOLDER.metrics), readMetricLine),
          unread: true,
        };
        this.tracked.set(dir, tracked);
        this.watchRun(tracked);
        changed = true;
      } else {
        const { meta, notes } = reading;
        // A resume cuts the record files back to its checkpoint: read them again from the start.
        if (meta.resume_count !== tracked.state.meta.resume_count) tracked.tail.rewind();
        tracked.state.meta = meta;
        tracked.state.metaNotes = notes;
        tracked.state.readProblem = undefined;
        changed = true;
      }
      tracked.metaStamp = stamp;
    }
    const annotationsStamp = await fs.stat(join(dir, RUN_FOLDER.annotations)).then((s) => `${s.mtimeMs}:${s.size}`, () => '');
    if (annotationsStamp !== (tracked.annotationsStamp ?? '')) {
      tracked.annotationsStamp = annotationsStamp;
      tracked.state.annotations = annotationsStamp ? await readAnnotations(dir) : undefined;
      changed = true;
    }
    const status = displayStatus(tracked.state.meta, now, pidAlive, this.options.heartbeatStaleMs);
    if (status !== tracked.state.status) {
      tracked.state.status = status;
      changed = true;
    }
    // A view began to hold this run's history: read it from the first line, this once.
    const kept = this.retained.get(dir);
    const fromStart = kept?.needsRewind === true;
    if (kept && fromStart) {
      tracked.tail.rewind();
      kept.needsRewind = false;
    }
    if (kept && fromStart) kept.history.clear();
    const take = (slice: TailResult<MetricRecord>) => {
      if (slice.reset) {
        tracked.state.latest = undefined;
        tracked.state.latestEval = undefined;
        kept?.history.clear();
      }
      for (const record of slice.records) {
        if (record.kind === 'eval') tracked.state.latestEval = record;
        else tracked.state.latest = record;
      }
      // The history keeps numbers in columns; the slice's records are dropped once handed on.
      kept?.history.addAll(slice.records);
      if (slice.records.length || slice.reset) {
        this.metrics.fire({ dir, records: slice.records, reset: slice.reset });
        changed = true;
      }
    };
    try {
      // The runs view needs a run's latest train and eval lines, not its history: a run seen for the
      // first time costs its file's last lines, whatever the file's size.
      const latestOnly = tracked.unread && !kept;
      if (latestOnly) take(await tracked.tail.readLatest(hasLatestOfEachKind));
      else await tracked.tail.readEach(take);
      tracked.unread = false;
    } catch (error) {
      // metrics.jsonl unreadable (a folder, a FIFO, no permission): said on this run's row, the rest stands
      if (kept && fromStart) kept.needsRewind = true; // the history is filled once the file reads
      const problem = `metrics: ${(error as Error).message}`;
      if (tracked.state.readProblem !== problem) {
        tracked.state.readProblem = problem;
        changed = true;
      }
      return changed;
    }
    tracked.state.skippedLines = tracked.tail.skippedTotal;
    if (kept && fromStart) {
      kept.complete = true;
      for (const wake of kept.waiting.splice(0)) wake();
    }
    return changed;
  }

  /**
   * Record why a run cannot be read: on its last readable state, or on a row of its own (status
   * "unreadable", the folder's name) when none was ever readable. True when that changed anything.
   */
  private markUnreadable(dir: string, problem: string): boolean {
    let tracked = this.tracked.get(dir);
    if (!tracked) {
      const placeholder = readRunMetaValue({ status: 'unreadable', name: basename(dir) }, basename(dir));
      if (placeholder instanceof LineProblem) return false;
      tracked = {
        state: { dir, meta: placeholder.meta, status: 'unreadable', skippedLines: 0, metaNotes: [], readProblem: problem },
        metaStamp: '',
        tail: new JsonlTail(join(dir, RUN_FOLDER.metrics), readMetricLine),
        unread: true,
      };
      this.tracked.set(dir, tracked);
      return true;
    }
    if (tracked.state.readProblem === problem) return false;
    tracked.state.readProblem = problem;
    return true;
  }

  private watchDirectory(root: string): void {
    if (this.options.watchFiles === false || this.dirWatchers.has(root)) return;
    try {
      const watcher = watch(root, () => this.scheduleRefresh());
      watcher.on('error', () => watcher.close());
      this.dirWatchers.set(root, watcher);
    } catch {
      // Polling covers it.
    }
  }

  private watchRun(tracked: Tracked): void {
    if (this.options.watchFiles === false) return;
    try {
      tracked.watcher = watch(tracked.state.dir, () => {
        this.reported.add(tracked.state.dir);
        this.scheduleRefresh();
      });
      tracked.watcher.on('error', () => tracked.watcher?.close());
    } catch {
      // Polling covers it.
    }
  }

  dispose(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    for (const watcher of this.dirWatchers.values()) watcher.close();
    for (const tracked of this.tracked.values()) tracked.watcher?.close();
    this.changed.dispose();
    this.removed.dispose();
    this.metrics.dispose();
  }
}

/** Whether `records` hold a train line and an eval line: what the runs view shows of a run. */
function hasLatestOfEachKind(records: MetricRecord[]): boolean {
  return records.some((r) => r.kind === 'train') && records.some((r) => r.kind === 'eval');
}

/** run.json, read leniently (readRunMetaValue) with its notes; a string says why it could not be used at all. */
export async function readRunMetaReading(dir: string): Promise<RunMetaReading | string> {
  let text: string;
  const path = join(dir, RUN_FOLDER.run);
  try {
    text = await readRegularFile(path, MAX_RUN_JSON_BYTES);
  } catch (error) {
    return error instanceof NotARegularFile ? 'run.json is not a regular file (a folder, FIFO or device?); it was not read'
      : `cannot read run.json: ${(error as Error).message}`;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'run.json is not valid JSON';
  }
  const reading = readRunMetaValue(value, basename(dir));
  return reading instanceof LineProblem ? reading.reason : reading;
}

/** run.json's meta, read leniently; a string says why it could not be used. */
export async function readRunMeta(dir: string): Promise<RunMeta | string> {
  const reading = await readRunMetaReading(dir);
  return typeof reading === 'string' ? reading : reading.meta;
}

/**
 * Why `dir` must not be deleted as a run, or null when it may: it is a folder directly inside one of
 * the configured runs directories (never the directory itself, never outside, links resolved) and
 * holds a run.json that is a regular file.
 */
export function deletableRunProblem(dir: string, runsDirectories: readonly string[]): string | null {
  let real: string;
  try {
    real = realpathSync(dir);
  } catch {
    return `${dir} no longer exists`;
  }
  const inside = runsDirectories.some((root) => {
    try {
      return dirname(real) === realpathSync(root);
    } catch {
      return false;
    }
  });
  if (!inside) return `${dir} is not a run folder inside the runs directory (bond.runsDirectory: ${runsDirectories.join(', ') || 'none'}); it was not deleted`;
  try {
    if (!lstatSync(join(real, RUN_FOLDER.run)).isFile()) return `${dir} has no run.json file; it was not deleted`;
  } catch {
    return `${dir} has no run.json; it was not deleted`;
  }
  return null;
}
