/** How the extension launches the trainer: python for one process, torchrun for several. */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { distributedLaunch, trainerArguments, worldSize } from '../../src/core/launch';

const args = ['train', '--config', 'c.bond.json', '--run-dir', 'runs/x'];

test('a config without a distributed section runs bond_trainer directly', () => {
  const launch = distributedLaunch('{ "name": "x" }');
  assert.equal(worldSize(launch), 1);
  assert.deepEqual(trainerArguments(launch, args), ['-m', 'bond_trainer', ...args]);
});

test('several processes on one machine use torchrun with a standalone rendezvous', () => {
  const launch = distributedLaunch('{ // comments allowed\n "distributed": { "nproc_per_node": 4, }, }');
  assert.deepEqual(trainerArguments(launch, args),
    ['-m', 'torch.distributed.run', '--nnodes=1', '--nproc_per_node=4', '--standalone', '-m', 'bond_trainer', ...args]);
});

test('several nodes meet at the configured c10d endpoint', () => {
  const launch = distributedLaunch(JSON.stringify({ distributed: { nproc_per_node: 8, nnodes: 2, rdzv_endpoint: 'head:29500', rdzv_id: 'exp7' } }));
  assert.equal(worldSize(launch), 16);
  assert.deepEqual(trainerArguments(launch, args).slice(0, 7),
    ['-m', 'torch.distributed.run', '--nnodes=2', '--nproc_per_node=8', '--rdzv_backend=c10d', '--rdzv_endpoint=head:29500', '--rdzv_id=exp7']);
});

test('--set overrides of the distributed section count; bad values are left for the trainer to report', () => {
  const text = JSON.stringify({ distributed: { nproc_per_node: 2 } });
  assert.equal(worldSize(distributedLaunch(text, ['distributed.nproc_per_node=1'])), 1);
  assert.equal(worldSize(distributedLaunch(text, ['train.steps=3', 'distributed.nnodes=3'])), 6);
  assert.equal(worldSize(distributedLaunch(JSON.stringify({ distributed: { nproc_per_node: 0 } }))), 1);
  assert.equal(worldSize(distributedLaunch('not json {')), 1);
});
