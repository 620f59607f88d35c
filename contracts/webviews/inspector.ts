/** The side-panel inspector's message contract: it shows the sample under focus in a samples panel. */
import type { SampleRecord } from '../run-directory';
import { parseWith, type Parsed } from './guards';

export interface InspectorFocus {
  dir: string;
  runName: string;
  bonN: number;
  record: SampleRecord;
  /** position of the record in the samples panel's current order, and that order's length */
  index: number;
  count: number;
}

export type HostToInspector = { type: 'focus'; seq: number; focus: InspectorFocus | null };

export type InspectorToHost =
  | { type: 'ready' }
  | { type: 'navigate'; delta: 1 | -1 }
  | { type: 'openInSamples' };

export function parseInspectorMessage(value: unknown): Parsed<InspectorToHost> {
  return parseWith<InspectorToHost>(value, {
    ready: () => ({ type: 'ready' }),
    navigate: (m) => (m.delta === 1 || m.delta === -1 ? { type: 'navigate', delta: m.delta } : 'delta must be 1 or -1'),
    openInSamples: () => ({ type: 'openInSamples' }),
  }, 'inspector');
}
