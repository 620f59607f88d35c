/**
 * The paper's Pareto view: reward against KL(π ‖ π_ref), one colour per run. Eval points (held-out
 * prompts) are drawn large and joined in step order; smoothed train points small and faint; each
 * run's Best-of-N sits at (its KL bound, its BoN reward) as a diamond. Plain canvas: a few hundred
 * points need no chart library.
 */
import { h } from '../shared/dom';
import { canvasFrame, drawAxes, nearestWithin, strokeDiamond } from '../shared/canvasPlot';
import { extent, smooth } from '../shared/series';
import type { RunData } from './model';
import { klBonBound } from './specs';

export interface ScatterContext {
  runs(): RunData[];
  runColour(index: number): string;
  theme(): { foreground: string; grid: string; background: string };
  smoothing(): number;
  /** an eval point was clicked: show this run's samples nearest its step */
  openSamplesAt(run: RunData, step: number): void;
}

/** A point, with the row it came from (eval points: a click opens that step's samples). */
interface Point { x: number; y: number; row: number }

const finitePairs = (xs: readonly (number | null)[], ys: readonly (number | null)[]): Point[] => {
  const points: Point[] = [];
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    const x = xs[i];
    const y = ys[i];
    if (x !== null && x !== undefined && y !== null && y !== undefined && Number.isFinite(x) && Number.isFinite(y)) points.push({ x, y, row: i });
  }
  return points;
};

/** How near (px) a click must land to an eval point to open its samples. */
const HIT_RADIUS = 8;

export class ParetoScatter {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly legend: HTMLElement;
  /** the eval points as drawn (CSS px), for clicks */
  private hits: { px: number; py: number; run: RunData; step: number }[] = [];

  constructor(private readonly context: ScatterContext) {
    this.canvas = h('canvas', { className: 'scatter-canvas', attrs: { role: 'img', 'aria-label': 'reward against KL to the reference, per run; click an eval point for its samples' } });
    this.canvas.title = 'Click an eval point (●) to open its samples';
    this.canvas.addEventListener('click', (event) => {
      const rect = this.canvas.getBoundingClientRect();
      const hit = this.nearestHit(event.clientX - rect.left, event.clientY - rect.top);
      if (hit) this.context.openSamplesAt(hit.run, hit.step);
    });
    this.legend = h('div', { className: 'scatter-legend' });
    this.element = h('section', { className: 'chart scatter', attrs: { 'data-chart': 'pareto' } }, [
      h('div', { className: 'chart-title' }, [h('span', { text: 'Reward vs KL(π ‖ π_ref) — Pareto view' })]),
      this.canvas, this.legend,
    ]);
  }

  /** The eval point nearest (x, y) in CSS px within HIT_RADIUS, or undefined. */
  nearestHit(x: number, y: number): { px: number; py: number; run: RunData; step: number } | undefined {
    return nearestWithin(this.hits, x, y, HIT_RADIUS);
  }

  draw(): void {
    this.hits = [];
    const width = Math.max(240, this.element.clientWidth || 600);
    const height = 260;
    const frame = canvasFrame(this.canvas, width, height);
    if (!frame) return;
    const { ctx, pad } = frame;
    const theme = this.context.theme();
    const runs = this.context.runs();
    const series = runs.map((run) => ({
      train: finitePairs(smooth(run.train.columns.get('kl/policy_ref') ?? [], this.context.smoothing()),
        smooth(run.train.columns.get('reward/policy') ?? [], this.context.smoothing())),
      eval: finitePairs(run.eval.columns.get('eval/kl/policy_ref') ?? [], run.eval.columns.get('eval/reward/policy') ?? []),
      bon: ((): Point | null => {
        const bonReward = run.eval.columns.get('eval/reward/bon')?.at(-1);
        return bonReward === null || bonReward === undefined ? null : { x: klBonBound(run.header.bonN), y: bonReward, row: -1 };
      })(),
    }));
    const all = series.flatMap((s) => [...s.train, ...s.eval, ...(s.bon ? [s.bon] : [])]);
    ctx.fillStyle = theme.foreground;
    if (all.length === 0) {
      ctx.fillText('no points yet: reward and KL appear after the first steps', pad.left, height / 2);
      this.legend.replaceChildren();
      return;
    }
    const { sx, sy, xTicks, yTicks } = drawAxes(frame, extent(all.map((p) => p.x), 0), extent(all.map((p) => p.y)),
      { x: 'KL(π ‖ π_ref), nats', y: 'eval reward' }, theme);
    this.element.dataset.ticks = JSON.stringify({ x: xTicks, y: yTicks });
    series.forEach((s, index) => {
      const colour = this.context.runColour(index);
      ctx.fillStyle = colour;
      ctx.strokeStyle = colour;
      ctx.globalAlpha = 0.45;
      for (const p of s.train) ctx.fillRect(sx(p.x) - 1.5, sy(p.y) - 1.5, 3, 3);
      ctx.globalAlpha = 1;
      ctx.beginPath();
      s.eval.forEach((p, i) => (i === 0 ? ctx.moveTo(sx(p.x), sy(p.y)) : ctx.lineTo(sx(p.x), sy(p.y))));
      ctx.stroke();
      const run = runs[index] as RunData;
      for (const p of s.eval) {
        const step = run.eval.steps[p.row];
        if (step !== undefined) this.hits.push({ px: sx(p.x), py: sy(p.y), run, step });
        ctx.beginPath();
        ctx.arc(sx(p.x), sy(p.y), 3.5, 0, 2 * Math.PI);
        ctx.fill();
      }
      if (s.bon) strokeDiamond(ctx, sx(s.bon.x), sy(s.bon.y));
    });
    this.element.dataset.hits = JSON.stringify(this.hits.map((hit) => [Math.round(hit.px), Math.round(hit.py), hit.step]));
    this.legend.replaceChildren(...runs.map((run, index) => h('span', { className: 'legend-item' }, [
      h('span', { className: 'swatch', attrs: { 'data-colour': String(index) } }),
      h('span', { text: `${run.header.name}: eval ● train · Best-of-${run.header.bonN} ◇` }),
    ])));
    this.legend.querySelectorAll<HTMLElement>('.swatch').forEach((swatch, index) => {
      swatch.style.background = this.context.runColour(index);
    });
  }
}
