/** The webviews' ready handshake (webview/shared/vscode.ts announceReady) and the sequence rule it leans on, in Node. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SequenceTracker } from '../../contracts/webviews/guards';
import { announceReady } from '../../webview/shared/vscode';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('announceReady', () => {
  it('says ready again, each time twice as late, until a snapshot is applied; then never again', async () => {
    const tracker = new SequenceTracker();
    const said: number[] = [];
    const start = Date.now();
    announceReady(() => said.push(Date.now() - start), () => tracker.awaitingSnapshot, 40);
    assert.equal(said.length, 1, 'ready is said at once');
    await sleep(40 + 80 + 40); // the repeats at 40 and 120 ms
    assert.equal(said.length, 3, `said at ${said.join(', ')} ms`);
    assert.ok(said[2]! - said[1]! >= 75, `the second repeat waits twice as long: ${said.join(', ')} ms`);
    assert.equal(tracker.accept(7, true), 'apply');
    await sleep(400);
    assert.equal(said.length, 3, 'no ready once a snapshot came');
  });

  it('a gap makes the tracker wait for a snapshot again', () => {
    const tracker = new SequenceTracker();
    assert.equal(tracker.accept(1, false), 'skip');
    assert.equal(tracker.awaitingSnapshot, true);
    assert.equal(tracker.accept(2, true), 'apply');
    assert.equal(tracker.awaitingSnapshot, false);
    assert.equal(tracker.accept(4, false), 'gap');
    assert.equal(tracker.awaitingSnapshot, true);
  });
});
