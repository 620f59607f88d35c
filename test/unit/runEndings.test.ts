/** The end of a run, said once: completed with its headline numbers, failed with its reason. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { summaryItems } from '../../src/core/format';
import { endingMessage } from '../../src/core/runEndings';
import { fixtureRun } from '../webview/harness';

const completed = fixtureRun('completed').meta;
const failed = fixtureRun('failed').meta;

test('a run seen live that completes is announced with its summary; one already over when seen is not', () => {
  const said = endingMessage({ status: 'completed', meta: completed }, 'running');
  assert.ok(said && !said.error);
  const s = completed.summary!;
  assert.match(said.text, new RegExp(`completed ${completed.step} steps`));
  assert.ok(said.text.includes(`policy ${s.reward_policy.toFixed(3)}`) && said.text.includes(`effective N ${s.effective_n.toFixed(2)}`), said.text);
  assert.equal(endingMessage({ status: 'completed', meta: completed }, undefined), undefined, 'seen for the first time');
  assert.equal(endingMessage({ status: 'completed', meta: completed }, 'completed'), undefined, 'no news');
  assert.equal(endingMessage({ status: 'running', meta: completed }, 'starting'), undefined);
  assert.equal(endingMessage({ status: 'stopped', meta: completed }, 'running'), undefined, 'a stop the user asked for says nothing');
});

test('a failure or a lost trainer says what happened', () => {
  const said = endingMessage({ status: 'failed', meta: failed }, 'running');
  assert.ok(said?.error);
  assert.ok(said.text.includes(failed.error!.message), said.text);
  const lost = endingMessage({ status: 'lost', meta: { ...completed, error: null } }, 'running');
  assert.match(lost?.text ?? '', /was lost at step \d+: the trainer stopped answering/);
});

test('the summary items name reward, KL against the bound, effective N, win rate and the time taken', () => {
  const labels = summaryItems(completed).map((item) => item.label);
  assert.deepEqual(labels, ['reward', 'KL(π‖π_ref)', 'effective N', `win rate vs Best-of-${completed.summary!.bon_n}`, 'since start']);
  assert.match(summaryItems(completed)[1]!.value, /nats \(Best-of-\d+ bound \d\.\d{3}\)/);
  assert.deepEqual(summaryItems({ ...completed, summary: null }), []);
});
