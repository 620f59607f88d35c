/** A run's config history: what Open Run Config shows, and the dashboard's config-change marks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { segmentsOf, type RunMeta } from '../../contracts/run-directory';
import { recordedConfigText } from '../../src/core/recordedConfig';
import { toDashboardRun } from '../../src/core/webviewModels';
import { fixtureRun } from '../webview/harness';

const base = fixtureRun('completed').meta;
const changed: RunMeta = {
  ...base,
  name: 'quick-beta03',
  config: { ...base.config, bond: { beta: 0.9 } },
  segments: [
    { start_step: 0, started_at: 1, config: { ...base.config, bond: { beta: 0.3 } }, changes: [] },
    { start_step: 40, started_at: 2, config: { ...base.config, bond: { beta: 0.9 } },
      changes: [{ field: 'bond.beta', before: 0.3, after: 0.9 }, { field: 'train.lr', before: 0.003, after: 0.05 }] },
  ],
};

describe('config segments', () => {
  it('an older run.json without segments is one segment holding its config', () => {
    const { segments: _, ...old } = base;
    assert.deepEqual(segmentsOf(old), [{ start_step: 0, started_at: base.created_at, config: base.config, changes: [] }]);
  });

  it('Open Run Config shows what ran: every segment with its steps and changes, the config in force, valid JSONC', () => {
    const text = recordedConfigText({ meta: { ...changed, config_path: '/w/quick.bond.json\n"evil": 1' } });
    assert.match(text, /trained in 2 segments/);
    assert.match(text, /1\. steps 0–40\n/);
    assert.match(text, /2\. from step 40: bond\.beta 0\.3 → 0\.9, train\.lr 0\.003 → 0\.05/);
    const json = text.split('\n').filter((line) => !line.startsWith('//')).join('\n');
    assert.deepEqual(JSON.parse(json), changed.segments![1]!.config, 'a path with a newline stays inside its comment');
    const single = recordedConfigText({ meta: base });
    assert.doesNotMatch(single, /segments/);
    assert.deepEqual(JSON.parse(single.split('\n').filter((l) => !l.startsWith('//')).join('\n')), base.config);
  });

  it('the dashboard is told where the config changed, and nothing for a run that never changed it', () => {
    assert.deepEqual(toDashboardRun('/r', changed, 'completed', 0).configChanges,
      [{ step: 40, changes: ['bond.beta 0.3 → 0.9', 'train.lr 0.003 → 0.05'] }]);
    assert.deepEqual(toDashboardRun('/r', base, 'completed', 0).configChanges, []);
  });
});
