/** The playground's TypeScript rewards equal the trainer's Python ones on the shared fixture. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { buildReward, lengthScore } from '../../src/inference/rewards';
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
