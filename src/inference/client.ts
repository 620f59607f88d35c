/**
 * The host's handle on the inference worker: started on the first request (never at activation),
 * stopped after a quiet spell so the native runtime and its sessions are released.
 */
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { FromWorker, GenerateRequest, GenerateResult, ToWorker } from './protocol';

export interface GenerateHandle {
  result: Promise<GenerateResult | 'cancelled'>;
  cancel(): void;
}

export class InferenceClient {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(value: GenerateResult | 'cancelled'): void; reject(error: Error): void;
    progress?(phase: string, done: number, total: number): void }>();
  private idleTimer: NodeJS.Timeout | undefined;

  /** workerPath: dist/inferenceWorker.js; idleMs: stop the worker after this long without requests */
  constructor(private readonly workerPath = join(__dirname, 'inferenceWorker.js'), private readonly idleMs = 5 * 60_000) {}

  private start(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.workerPath);
    worker.on('message', (message: FromWorker) => {
      const entry = this.pending.get(message.id);
      if (!entry) return;
      if (message.type === 'progress') {
        entry.progress?.(message.phase, message.done, message.total);
        return;
      }
      this.pending.delete(message.id);
      if (message.type === 'result') entry.resolve(message.result);
      else if (message.type === 'cancelled') entry.resolve('cancelled');
      else entry.reject(new Error(message.message));
      this.scheduleIdle();
    });
    const fail = (error: Error): void => {
      for (const entry of this.pending.values()) entry.reject(error);
      this.pending.clear();
      this.worker = undefined;
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (this.worker === worker) fail(new Error(`the inference worker exited (code ${code}); generate again to restart it, and see the BOND Studio output if it keeps failing`));
    });
    this.worker = worker;
    return worker;
  }

  private scheduleIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.pending.size === 0) void this.dispose();
    }, this.idleMs);
    this.idleTimer.unref();
  }

  generate(request: GenerateRequest, progress?: (phase: string, done: number, total: number) => void): GenerateHandle {
    const id = this.nextId++;
    const worker = this.start();
    const result = new Promise<GenerateResult | 'cancelled'>((resolve, reject) => this.pending.set(id, { resolve, reject, progress }));
    worker.postMessage({ type: 'generate', id, request } satisfies ToWorker);
    return { result, cancel: () => this.worker?.postMessage({ type: 'cancel', id } satisfies ToWorker) };
  }

  async dispose(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }
}
