/** The config a run trained with, as a read-only JSONC document: its segments, newest config in full. */
import { describeChange, segmentsOf } from '../../contracts/run-directory';
import type { RunState } from './runStore';

export function recordedConfigText(run: Pick<RunState, 'meta'>): string {
  const { meta } = run;
  const segments = segmentsOf(meta);
  const lines = [`// The config run "${meta.name}" trained with, from its run.json (read-only).`];
  if (meta.config_path) lines.push(`// Source file (it may have changed since): ${meta.config_path}`);
  if (segments.length > 1) {
    lines.push(`// It trained in ${segments.length} segments; each resume with a changed config began one:`);
    segments.forEach((segment, index) => {
      const end = segments[index + 1]?.start_step;
      const span = end === undefined ? `from step ${segment.start_step}` : `steps ${segment.start_step}–${end}`;
      lines.push(`//   ${index + 1}. ${span}${segment.changes.length ? `: ${segment.changes.map(describeChange).join(', ')}` : ''}`);
    });
    lines.push('// Below: the last segment’s config (the one in force now).');
  }
  // Comment lines cannot break out: a newline in a value is escaped by JSON.stringify.
  return `${lines.map((line) => line.replace(/[\r\n\u2028\u2029]/g, ' ')).join('\n')}\n${JSON.stringify(segments.at(-1)?.config ?? meta.config, null, 2)}\n`;
}
