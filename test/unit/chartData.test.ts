/** The dashboard chart's data side (webview/dashboard/chartData.ts), in Node: lines, alignment of
 * compared runs, the range a following chart spans, and the visible window as CSV. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MetricRecord } from '../../contracts/run-directory';
import { toDashboardRun } from '../../src/core/webviewModels';
import {
  alignLines, buildLines, followRange, SmoothedColumns, visibleCsv, type LineStyle,
} from '../../webview/dashboard/chartData';
import { RunData } from '../../webview/dashboard/model';
import { chartSpecs } from '../../webview/dashboard/specs';
import { fixtureRun } from '../webview/harness';

function run(dir: string, name: string, steps: number[], evalSteps: number[] = []): RunData {
  const { meta } = fixtureRun('completed');
  const data = new RunData({ ...toDashboardRun(dir, meta, 'completed', 0), name });
  const records: MetricRecord[] = [
    ...steps.map((step) => ({ kind: 'train' as const, step, time: 1000 + step, 'loss/total': step / 10 })),
    ...evalSteps.map((step) => ({ kind: 'eval' as const, step, time: 1000 + step + 0.5, 'eval/reward/policy': step })),
  ].sort((a, b) => a.time - b.time);
  data.add(records);
  return data;
}

const style = (compare: boolean, smoothing = 0): LineStyle => ({
  compare, smoothing, xAxis: 'step', runColour: (i) => `run${i}`, seriesColour: (i) => `series${i}`, foreground: 'fg',
});

function lossSpec(runs: RunData[]) {
  const spec = chartSpecs(runs.map((r) => r.header), ['loss/total'], ['eval/reward/policy']).find((s) => s.id === 'loss');
  assert.ok(spec, 'the fixture declares a loss chart');
  return spec;
}

describe('dashboard chart data', () => {
  it('draws a line per series, coloured by series alone and by run when comparing', () => {
    const a = run('/a', 'a', [1, 2, 3]);
    const spec = lossSpec([a]);
    const alone = buildLines(spec, [a], style(false), new SmoothedColumns());
    assert.deepEqual(alone.map((l) => [l.label, l.colour]), spec.series.map((s, i) => [s.label, `series${i}`]));
    const b = run('/b', 'b', [2, 4]);
    const both = buildLines(spec, [a, b], style(true), new SmoothedColumns());
    assert.equal(both.length, 2 * spec.series.length);
    assert.ok(both.every((l, i) => l.colour === `run${Math.floor(i / spec.series.length)}` && l.label.startsWith(i < spec.series.length ? 'a · ' : 'b · ')));
  });

  it('aligns compared runs on one x, shown columns first, then raw, with gaps where a run has no row', () => {
    const a = run('/a', 'a', [1, 2, 3]);
    const b = run('/b', 'b', [2, 4]);
    const spec = { ...lossSpec([a, b]), series: [{ key: 'loss/total', label: 'total' }], reference: undefined };
    const lines = buildLines(spec, [a, b], style(true, 0.5), new SmoothedColumns());
    const aligned = alignLines(spec, [a, b], lines, 'step');
    assert.deepEqual(aligned.xs, [1, 2, 3, 4]);
    assert.equal(aligned.ys.length, 4); // a shown, b shown, a raw, b raw
    assert.deepEqual(aligned.ys[2], [0.1, 0.2, 0.3, null]);
    assert.deepEqual(aligned.ys[3], [null, 0.2, null, 0.4]);
    assert.notDeepEqual(aligned.ys[0], aligned.ys[2], 'the shown column is the smoothed one');
  });

  it('a following chart spans every point of its runs, train and eval together, and grows with them', () => {
    const a = run('/a', 'a', [1, 2], [5]);
    assert.deepEqual(followRange([a], 'step'), [1, 5]);
    a.add([{ kind: 'train', step: 9, time: 1009, 'loss/total': 1 }]);
    assert.deepEqual(followRange([a], 'step'), [1, 9]);
    assert.deepEqual(followRange([a, run('/b', 'b', [12])], 'step'), [1, 12]);
    assert.equal(followRange([new RunData(a.header)], 'step'), null);
  });

  it('exports the visible window at full resolution, raw and smoothed, naming each run', () => {
    const a = run('/a', 'first, "quoted"', [1, 2, 3, 4]);
    const spec = { ...lossSpec([a]), series: [{ key: 'loss/total', label: 'total' }],
      reference: () => ({ label: 'target', value: 1 }) };
    const lines = buildLines(spec, [a], style(false, 0.6), new SmoothedColumns());
    const full = alignLines(spec, [a], lines, 'step');
    const csv = visibleCsv(spec, [a], lines, full, [2, 3], 'step', 0.6).trim().split('\n');
    assert.equal(csv[0], '"step","first, ""quoted"" · total (raw)","first, ""quoted"" · total (smoothed 0.6)"');
    assert.deepEqual(csv.slice(1).map((row) => row.split(',').slice(0, 2)), [['2', '0.2'], ['3', '0.3']]);
    assert.ok(lines.some((l) => l.reference));
    assert.equal(csv[0]!.split('","').length, 3, 'reference lines are constants, not data');
  });
});
