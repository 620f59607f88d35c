/**
 * Small structural checks shared by the message parsers. Every message a webview sends is untrusted
 * input to the host (a compromised webview could send anything), so each parser checks every field
 * it reads and returns a reason when it refuses.
 */

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

export function isNonNegativeInteger(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= 0;
}

export function isStringArray(value: unknown, maxItems: number): value is string[] {
  return Array.isArray(value) && value.length <= maxItems && value.every((item) => typeof item === 'string');
}

/** The host's side of the sequence rule: every message it posts carries the next number. */
export class SequenceCounter {
  private next = 1;
  take(): number {
    return this.next++;
  }
}

/**
 * The webview's side: appends apply only when their number is exactly the next one expected. A gap
 * (a lost, reordered or duplicated message) makes the view ask for a snapshot and drop appends
 * until one arrives; a snapshot is always accepted and restarts the count.
 */
export class SequenceTracker {
  private last: number | undefined;
  private waitingForSnapshot = true;

  /** true until a snapshot is applied, and again after a gap until the next one */
  get awaitingSnapshot(): boolean {
    return this.waitingForSnapshot;
  }

  /** 'apply' when the message continues the stream, 'gap' when a snapshot must be requested, 'skip' while one is awaited. */
  accept(seq: number, isSnapshot: boolean): 'apply' | 'gap' | 'skip' {
    if (isSnapshot) {
      this.last = seq;
      this.waitingForSnapshot = false;
      return 'apply';
    }
    if (this.waitingForSnapshot) return 'skip';
    if (this.last !== undefined && seq === this.last + 1) {
      this.last = seq;
      return 'apply';
    }
    this.waitingForSnapshot = true;
    return 'gap';
  }
}

export function parseWith<T>(value: unknown, parsers: Record<string, (message: Record<string, unknown>) => T | string>,
  webview: string): Parsed<T> {
  if (!isObject(value)) return { ok: false, reason: `${webview}: a message must be an object` };
  const parser = typeof value.type === 'string' ? parsers[value.type] : undefined;
  if (!parser) return { ok: false, reason: `${webview}: unknown message type ${JSON.stringify(value.type)}` };
  const result = parser(value);
  return typeof result === 'string' ? { ok: false, reason: `${webview} '${String(value.type)}': ${result}` } : { ok: true, value: result };
}
