/** The playground's TypeScript rewards equal the trainer's Python ones on the shared fixture. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildReward, buildRunReward, lengthScore } from '../../src/inference/rewards';
import { FIXTURES } from '../helpers';

interface Case { reward: Record<string, unknown>; completion: string; expected: number }
const cases = (JSON.parse(readFileSync(join(FIXTURES, 'rewards.json'), 'utf8')) as { cases: Case[] }).cases;

describe('built-in rewards in TypeScript', () => {
  it('equal the Python values on every shared case (non-ASCII, emoji and empty text included)', () => {
    assert.ok(cases.length >= 60);
    for (const c of cases) {
      const reward = buildReward(c.reward);
      assert.ok(typeof reward === 'function', JSON.stringify(reward));
      assert.ok(Math.abs(reward(c.completion) - c.expected) < 1e-12, `${JSON.stringify(c.reward)} on ${JSON.stringify(c.completion)}: ${reward(c.completion)} ≠ ${c.expected}`);
    }
  });

  it('counts length in code points, as Python does', () => {
    assert.equal(lengthScore('👍🏽', 4), -0.5); // 2 code points, 4 UTF-16 units
  });

  it('say why a reward cannot be computed instead of guessing', () => {
    assert.match(JSON.stringify(buildReward({ type: 'python', function: 'r.py:score' })), /Python code/);
    assert.match(JSON.stringify(buildReward({ type: 'keyword', keywords: [], pattern: '(?P<x>a)' })), /Python-only/);
    assert.match(JSON.stringify(buildReward({ type: 'keyword', keywords: [], pattern: '(' })), /not a JavaScript regex/);
  });
});

it('a composite reward: the playground sums the components it can compute and names the others', () => {
  const reward = buildRunReward([
    { type: 'length', target_length: 4, weight: 2 },
    { type: 'keyword', keywords: [], pattern: 'a', weight: 0.5, name: 'as' },
    { type: 'python', function: 'judge.py:score', name: 'judge' },
  ]);
  assert.ok(!('unavailable' in reward));
  if ('unavailable' in reward) return;
  assert.equal(reward.score('aaaa'), 2 * lengthScore('aaaa', 4) + 0.5 * 4);
  assert.deepEqual(reward.skipped.map((s) => s.split(':')[0]), ['judge']);
  assert.match(reward.skipped[0] ?? '', /Python code/);
  const none = buildRunReward([{ type: 'python', function: 'a.py:f' }]);
  assert.ok('unavailable' in none && /no component of the reward runs here/.test(none.unavailable));
  const single = buildRunReward({ type: 'sentiment' });
  assert.ok(!('unavailable' in single) && single.skipped.length === 0);
});
