/**
 * Parallel coordinates: one vertical axis per swept field that varies, then one per objective; each
 * finished configuration a line across them in its colour. Numbers get a linear axis (a log one when
 * they span more than 20×, all positive), anything else its values spaced evenly in sorted order.
 */
import type { SweepConfiguration, SweepObjective } from '../../contracts/webviews/sweep';
import { canvasFrame } from '../shared/canvasPlot';
import { h } from '../shared/dom';
import { formatTick } from '../shared/format';

export interface Axis {
  label: string;
  kind: 'linear' | 'log' | 'categories';
  /** the value of each configuration on this axis, as it was written (null: it has none) */
  value(trial: SweepConfiguration): string | number | null;
  /** where a value sits, 0 (bottom) to 1 (top) */
  position(value: string | number): number;
  ticks: { at: number; label: string }[];
}

function axisOver(label: string, values: (string | number | null)[], value: Axis['value'], higherIsBetter = true): Axis {
  const present = values.filter((v): v is string | number => v !== null);
  const numbers = present.map((v) => (typeof v === 'number' ? v : Number(v)));
  if (present.length && numbers.every(Number.isFinite)) {
    const min = Math.min(...numbers);
    const max = Math.max(...numbers);
    const log = min > 0 && max / min > 20;
    const f = (v: number): number => (log ? Math.log(v) : v);
    const span = f(max) - f(min);
    const position = (v: string | number): number => {
      const at = span > 0 ? (f(Number(v)) - f(min)) / span : 0.5;
      return higherIsBetter ? at : 1 - at;
    };
    const ends = min === max ? [min] : [min, max];
    return { label, kind: log ? 'log' : 'linear', value, position, ticks: ends.map((v) => ({ at: position(v), label: formatTick(v) })) };
  }
  const categories = [...new Set(present.map(String))].sort();
  const position = (v: string | number): number => (categories.length > 1 ? categories.indexOf(String(v)) / (categories.length - 1) : 0.5);
  return { label, kind: 'categories', value, position, ticks: categories.map((c) => ({ at: position(c), label: c.replace(/^"|"$/g, '') })) };
}

/** The axes: swept fields whose value differs between configurations, then the objectives (better is up). */
export function parallelAxes(trials: readonly SweepConfiguration[], parameters: readonly string[], objectives: readonly SweepObjective[]): Axis[] {
  const axes: Axis[] = [];
  for (const field of parameters) {
    const value = (t: SweepConfiguration): string | null => t.params[field] ?? null;
    const values = trials.map(value);
    if (new Set(values.map(String)).size > 1) axes.push(axisOver(field, values.map((v) => (v !== null && Number.isFinite(Number(v)) ? Number(v) : v)), (t) => {
      const v = value(t);
      return v !== null && Number.isFinite(Number(v)) ? Number(v) : v;
    }));
  }
  objectives.forEach((objective, index) => {
    const value = (t: SweepConfiguration): number | null => t.values?.[index] ?? null;
    axes.push(axisOver(`${objective.metric} (${objective.goal === 'maximize' ? '↑' : '↓'} better)`, trials.map(value), value,
      objective.goal === 'maximize'));
  });
  return axes;
}

export class ParallelCoordinates {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;

  constructor(private readonly colour: (trial: number) => string, private readonly theme: () => { foreground: string; grid: string }) {
    this.canvas = h('canvas', { className: 'parallel-canvas', attrs: { role: 'img', 'aria-label': 'parallel coordinates: swept fields to objectives, one line per finished configuration' } });
    this.element = h('div', { className: 'parallel', attrs: { 'data-chart': 'parallel' } }, [this.canvas]);
  }

  draw(trials: readonly SweepConfiguration[], parameters: readonly string[], objectives: readonly SweepObjective[]): void {
    const finished = trials.filter((t) => t.state === 'complete' && t.values?.every((v) => v !== null));
    const axes = parallelAxes(finished, parameters, objectives);
    const width = Math.max(280, this.element.clientWidth || 640);
    const height = 240;
    const frame = canvasFrame(this.canvas, width, height);
    if (!frame) return;
    const { ctx } = frame;
    const theme = this.theme();
    const top = 34;
    const bottom = height - 22;
    const left = 40;
    const right = width - 40;
    const ax = (i: number): number => (axes.length > 1 ? left + (i * (right - left)) / (axes.length - 1) : (left + right) / 2);
    const ay = (at: number): number => bottom - at * (bottom - top);
    ctx.fillStyle = theme.foreground;
    if (!finished.length || !axes.length) {
      ctx.fillText('appears once configurations have finished', left, height / 2);
      this.element.dataset.lines = '[]';
      this.element.dataset.axes = JSON.stringify(axes.map((a) => a.label));
      return;
    }
    const lines = finished.map((trial) => ({ trial: trial.number, at: axes.map((axis) => {
      const v = axis.value(trial);
      return v === null ? null : axis.position(v);
    }) }));
    for (const line of lines) {
      ctx.strokeStyle = this.colour(line.trial);
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      // a field this configuration does not have (another algorithm's) is passed over, not a break
      let drawing = false;
      line.at.forEach((at, i) => {
        if (at === null) return;
        if (drawing) ctx.lineTo(ax(i), ay(at));
        else ctx.moveTo(ax(i), ay(at));
        drawing = true;
      });
      ctx.stroke();
    }
    ctx.lineWidth = 1;
    ctx.strokeStyle = theme.foreground;
    axes.forEach((axis, i) => {
      ctx.beginPath();
      ctx.moveTo(ax(i), top);
      ctx.lineTo(ax(i), bottom);
      ctx.stroke();
      ctx.textAlign = i === 0 ? 'left' : i === axes.length - 1 ? 'right' : 'center';
      ctx.fillText(axis.label.length > 28 ? `…${axis.label.slice(-27)}` : axis.label, ax(i), 12 + (i % 2) * 12);
      ctx.textAlign = 'left';
      for (const tick of axis.ticks) ctx.fillText(tick.label, ax(i) + 4, ay(tick.at) + 4);
    });
    this.element.dataset.axes = JSON.stringify(axes.map((a) => a.label));
    this.element.dataset.lines = JSON.stringify(lines.map((l) => ({ trial: l.trial, at: l.at.map((v) => (v === null ? null : Math.round(v * 1000) / 1000)) })));
  }
}

/** Optuna's importance per objective, as bars (the note says what the numbers mean). */
export function importanceBars(importance: Record<string, Record<string, number>> | null, note: string): HTMLElement {
  const section = h('div', { className: 'importance', attrs: { 'data-importance': JSON.stringify(importance ?? {}) } });
  if (!importance || !Object.keys(importance).length) {
    section.append(h('p', { className: 'muted', text: `No importance yet: ${note || 'the trainer writes it once configurations have finished'}.` }));
    return section;
  }
  for (const [metric, scores] of Object.entries(importance)) {
    const rows = Object.entries(scores).sort((a, b) => b[1] - a[1]).map(([field, score]) => {
      const bar = h('span', { className: 'importance-bar' });
      bar.style.width = `${Math.max(1, Math.round(score * 100))}%`;
      return h('div', { className: 'importance-row', attrs: { 'data-field': field } }, [
        h('span', { className: 'importance-field', text: field }), h('span', { className: 'importance-track' }, [bar]),
        h('span', { className: 'importance-value', text: score.toFixed(2) }),
      ]);
    });
    section.append(h('h4', { text: metric }), ...rows);
  }
  section.append(h('p', { className: 'muted', text: note }));
  return section;
}
