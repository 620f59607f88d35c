/**
 * The Sweep view's plot: each configuration at its mean over the seeds of two evaluation metrics
 * (reward against KL by default), with error bars on both axes (± one standard deviation, or the 95%
 * interval of the mean: the legend says which), Optuna's Pareto front ringed and joined, and the
 * Best-of-N of the base as diamonds where the axes are the paper's. Hollow points: configurations
 * still training (their latest evaluation). A click on a point opens its seeds' dashboard.
 */
import type { SweepConfiguration } from '../../contracts/webviews/sweep';
import { canvasFrame, drawAxes, nearestWithin, strokeDiamond } from '../shared/canvasPlot';
import { h } from '../shared/dom';
import { extent } from '../shared/series';
import { halfBar, spread, type ErrorBars, type Spread } from './stats';

export const PAPER_X = 'eval/kl/policy_ref';
export const PAPER_Y = 'eval/reward/policy';

/** One configuration on the plot (CSS px in px/py once drawn). */
export interface PlottedPoint {
  trial: number;
  x: Spread;
  y: Spread;
  xBar: number | null;
  yBar: number | null;
  front: boolean;
  provisional: boolean;
  px: number;
  py: number;
}

/** The seeds' values of a metric: each seed's last evaluation (finished seeds, else the latest of those training). */
export function seedValues(trial: SweepConfiguration, metric: string): number[] {
  const evaluated = trial.seeds.filter((s) => s.evaluation && Number.isFinite(s.evaluation[metric]));
  const finished = evaluated.filter((s) => s.status === 'completed');
  return (finished.length ? finished : evaluated).map((s) => s.evaluation![metric]!);
}

/** Best-of-N points of the base: per distinct KL bound (eval.bon_n), the Best-of-N reward over every seed evaluated. */
export function bestOfNPoints(trials: readonly SweepConfiguration[]): { bound: number; reward: Spread }[] {
  const byBound = new Map<string, { bound: number; rewards: number[] }>();
  for (const trial of trials) {
    for (const seed of trial.seeds) {
      const bound = seed.evaluation?.['eval/kl/bon_bound'];
      const reward = seed.evaluation?.['eval/reward/bon'];
      if (bound === undefined || reward === undefined || !Number.isFinite(bound) || !Number.isFinite(reward)) continue;
      const key = bound.toFixed(6);
      const entry = byBound.get(key) ?? { bound, rewards: [] };
      entry.rewards.push(reward);
      byBound.set(key, entry);
    }
  }
  return [...byBound.values()].map((e) => ({ bound: e.bound, reward: spread(e.rewards)! }));
}

export interface SweepPlotContext {
  colour(trial: number): string;
  theme(): { foreground: string; grid: string; background: string };
  open(trial: number): void;
}

const HIT_RADIUS = 9;

export class SweepPlot {
  readonly element: HTMLElement;
  private readonly canvas: HTMLCanvasElement;
  private readonly legend: HTMLElement;
  private points: PlottedPoint[] = [];

  constructor(private readonly context: SweepPlotContext) {
    this.canvas = h('canvas', { className: 'scatter-canvas', attrs: { role: 'img', 'aria-label': 'each configuration at its mean over the seeds, with error bars; click one for its dashboard' } });
    this.canvas.title = 'Click a configuration to open its seeds’ dashboard';
    this.canvas.addEventListener('click', (event) => {
      const rect = this.canvas.getBoundingClientRect();
      const hit = this.nearest(event.clientX - rect.left, event.clientY - rect.top);
      if (hit) this.context.open(hit.trial);
    });
    this.legend = h('div', { className: 'scatter-legend' });
    this.element = h('div', { className: 'sweep-plot', attrs: { 'data-chart': 'sweep-scatter' } }, [this.canvas, this.legend]);
  }

  nearest(x: number, y: number): PlottedPoint | undefined {
    return nearestWithin(this.points, x, y, HIT_RADIUS);
  }

  draw(trials: readonly SweepConfiguration[], front: readonly number[], xMetric: string, yMetric: string, bars: ErrorBars,
    logX = false): void {
    const width = Math.max(280, this.element.clientWidth || 640);
    const height = 320;
    const frame = canvasFrame(this.canvas, width, height);
    if (!frame) return;
    const { ctx, pad } = frame;
    const theme = this.context.theme();
    const onFront = new Set(front);
    const points: PlottedPoint[] = [];
    for (const trial of trials) {
      const x = spread(seedValues(trial, xMetric));
      const y = spread(seedValues(trial, yMetric));
      if (!x || !y) continue;
      points.push({ trial: trial.number, x, y, xBar: halfBar(x, bars), yBar: halfBar(y, bars), front: onFront.has(trial.number),
        provisional: trial.state !== 'complete', px: 0, py: 0 });
    }
    const paperAxes = xMetric === PAPER_X && yMetric === PAPER_Y;
    const bon = paperAxes ? bestOfNPoints(trials) : [];
    const xs = points.flatMap((p) => [p.x.mean - (p.xBar ?? 0), p.x.mean + (p.xBar ?? 0)]).concat(bon.map((b) => b.bound));
    const ys = points.flatMap((p) => [p.y.mean - (p.yBar ?? 0), p.y.mean + (p.yBar ?? 0)])
      .concat(bon.flatMap((b) => [b.reward.mean - (halfBar(b.reward, bars) ?? 0), b.reward.mean + (halfBar(b.reward, bars) ?? 0)]));
    ctx.fillStyle = theme.foreground;
    if (points.length === 0) {
      ctx.fillText(`no configuration has an evaluation of ${xMetric} and ${yMetric} yet`, pad.left, height / 2);
      this.points = [];
      this.publish(bon, bars, 0);
      return;
    }
    // a log x axis (KL spans decades across β) where every value allows it
    const useLog = logX && xs.every((v) => v > 0);
    const xRange = useLog ? extent(xs.map(Math.log10)) : extent(xs, xMetric.includes('/kl/') ? 0 : undefined);
    const { sx, sy } = drawAxes(frame, xRange, extent(ys), { x: `${xMetric}${useLog ? ' (log scale)' : ''}`, y: yMetric }, theme, { logX: useLog });
    this.element.dataset.logX = String(useLog);
    // the front first, beneath: Optuna's best trials joined in x order
    const frontPoints = points.filter((p) => p.front).sort((a, b) => a.x.mean - b.x.mean);
    ctx.strokeStyle = theme.foreground;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    frontPoints.forEach((p, i) => (i === 0 ? ctx.moveTo(sx(p.x.mean), sy(p.y.mean)) : ctx.lineTo(sx(p.x.mean), sy(p.y.mean))));
    ctx.stroke();
    ctx.setLineDash([]);
    for (const point of points) {
      const colour = this.context.colour(point.trial);
      const px = sx(point.x.mean);
      const py = sy(point.y.mean);
      point.px = px;
      point.py = py;
      ctx.strokeStyle = colour;
      ctx.fillStyle = colour;
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      if (point.xBar) {
        ctx.moveTo(sx(point.x.mean - point.xBar), py);
        ctx.lineTo(sx(point.x.mean + point.xBar), py);
        for (const end of [point.x.mean - point.xBar, point.x.mean + point.xBar]) {
          ctx.moveTo(sx(end), py - 3);
          ctx.lineTo(sx(end), py + 3);
        }
      }
      if (point.yBar) {
        ctx.moveTo(px, sy(point.y.mean - point.yBar));
        ctx.lineTo(px, sy(point.y.mean + point.yBar));
        for (const end of [point.y.mean - point.yBar, point.y.mean + point.yBar]) {
          ctx.moveTo(px - 3, sy(end));
          ctx.lineTo(px + 3, sy(end));
        }
      }
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(px, py, 4.5, 0, 2 * Math.PI);
      if (point.provisional) ctx.stroke();
      else ctx.fill();
      if (point.front) {
        ctx.strokeStyle = theme.foreground;
        ctx.beginPath();
        ctx.arc(px, py, 8, 0, 2 * Math.PI);
        ctx.stroke();
      }
      ctx.lineWidth = 1;
    }
    ctx.strokeStyle = theme.foreground;
    for (const b of bon) {
      const bar = halfBar(b.reward, bars);
      strokeDiamond(ctx, sx(b.bound), sy(b.reward.mean));
      if (bar) {
        ctx.beginPath();
        ctx.moveTo(sx(b.bound), sy(b.reward.mean - bar));
        ctx.lineTo(sx(b.bound), sy(b.reward.mean + bar));
        ctx.stroke();
      }
    }
    this.points = points;
    this.publish(bon, bars, Math.max(...points.map((p) => p.x.n)));
  }

  /** The legend, and what was drawn as data attributes (for tests and for screen readers' neighbours). */
  private publish(bon: { bound: number; reward: Spread }[], bars: ErrorBars, seeds: number): void {
    this.element.dataset.points = JSON.stringify(this.points.map((p) => ({
      trial: p.trial, x: p.x.mean, y: p.y.mean, xBar: p.xBar, yBar: p.yBar, n: p.x.n, front: p.front, provisional: p.provisional,
      px: Math.round(p.px), py: Math.round(p.py),
    })));
    this.element.dataset.bon = JSON.stringify(bon.map((b) => ({ x: b.bound, y: b.reward.mean, n: b.reward.n })));
    this.element.dataset.errorBars = bars;
    const barWords = bars === 'std' ? '± 1 standard deviation over the seeds' : '95% confidence interval of the mean (Student’s t)';
    this.legend.replaceChildren(
      h('span', { className: 'legend-item', text: `● mean over ${seeds > 1 ? `up to ${seeds} seeds` : 'the seeds'}, bars: ${barWords}${seeds === 1 ? ' (one seed: no bars)' : ''}` }),
      h('span', { className: 'legend-item', text: '◯ ring, dashed line: Optuna’s Pareto front (best trials)' }),
      h('span', { className: 'legend-item', text: '○ hollow: not finished — training, stopped or pruned (its latest evaluation)' }),
      ...(bon.length ? [h('span', { className: 'legend-item', text: '◇ Best-of-N of the base, at its KL bound log N − (N−1)/N' })] : []),
    );
  }
}
