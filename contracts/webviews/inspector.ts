/**
 * The side panel's message contract: the inspector (the sample under focus in a samples panel) and
 * a compact launcher of the playground editor tab (./playground).
 */
import type { SampleRecord } from '../run-directory';
import { parseWith, type Parsed } from './guards';
import { PLAYGROUND_LIMITS } from './playground';

export interface InspectorFocus {
  dir: string;
  runName: string;
  bonN: number;
  record: SampleRecord;
  /** position of the record in the samples panel's current order, and that order's length */
  index: number;
  count: number;
}

export type HostToInspector =
  | { type: 'focus'; seq: number; focus: InspectorFocus | null };

export type InspectorToHost =
  | { type: 'ready' }
  | { type: 'navigate'; delta: 1 | -1 }
  | { type: 'openInSamples' }
  /** the launcher: open the playground editor tab with this prompt (or the sample under focus's) */
  | { type: 'openPlayground'; prompt: string | null };

export function parseInspectorMessage(value: unknown): Parsed<InspectorToHost> {
  return parseWith<InspectorToHost>(value, {
    ready: () => ({ type: 'ready' }),
    navigate: (m) => (m.delta === 1 || m.delta === -1 ? { type: 'navigate', delta: m.delta } : 'delta must be 1 or -1'),
    openInSamples: () => ({ type: 'openInSamples' }),
    openPlayground: (m) => (m.prompt === null || (typeof m.prompt === 'string' && m.prompt.length <= PLAYGROUND_LIMITS.promptChars[1])
      ? { type: 'openPlayground', prompt: m.prompt } : `prompt must be text of at most ${PLAYGROUND_LIMITS.promptChars[1]} characters, or null`),
  }, 'inspector');
}
