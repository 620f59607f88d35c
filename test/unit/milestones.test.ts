import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { onMilestone, reach, type Milestone } from '../../src/milestones';

test('milestones reached before the walkthrough listens still reach it, each once', () => {
  reach('environment');
  const seen: Milestone[] = [];
  onMilestone((milestone) => seen.push(milestone));
  reach('dashboard');
  reach('dashboard');
  assert.deepEqual(seen, ['environment', 'dashboard']);
});
