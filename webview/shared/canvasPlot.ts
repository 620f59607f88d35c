/**
 * The frame of a plain-canvas x–y plot (the dashboard's Pareto view, the Sweep view's plot): a
 * canvas sized for the device's pixels, a grid at round ticks, tick labels and axis titles.
 */
import { formatTick } from './format';
import { niceTicks } from './series';

export interface PlotFrame {
  ctx: CanvasRenderingContext2D;
  width: number;
  height: number;
  pad: { left: number; right: number; top: number; bottom: number };
}

/** The canvas at width × height CSS px, drawn on at the device's resolution; null without a 2-D context. */
export function canvasFrame(canvas: HTMLCanvasElement, width: number, height: number): PlotFrame | null {
  const ratio = devicePixelRatio || 1;
  canvas.width = width * ratio;
  canvas.height = height * ratio;
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext('2d');
  if (!ctx) return null;
  ctx.scale(ratio, ratio);
  ctx.font = '11px sans-serif';
  return { ctx, width, height, pad: { left: 62, right: 12, top: 10, bottom: 34 } };
}

export interface Scales {
  sx(x: number): number;
  sy(y: number): number;
  xTicks: number[];
  yTicks: number[];
}

/** Grid lines and labels at round ticks (0, 0.5, 1 rather than −0.03, 0.12, 0.27), and the axis titles. */
export function drawAxes(frame: PlotFrame, x: [number, number], y: [number, number], titles: { x: string; y: string },
  theme: { foreground: string; grid: string }, options: { logX?: boolean } = {}): Scales {
  const { ctx, width, height, pad } = frame;
  // a log axis is drawn in log10 space: x holds the log range, sx takes the value itself
  const fx = options.logX ? Math.log10 : (value: number): number => value;
  const sx = (value: number): number => pad.left + ((fx(value) - x[0]) / (x[1] - x[0])) * (width - pad.left - pad.right);
  const sy = (value: number): number => height - pad.bottom - ((value - y[0]) / (y[1] - y[0])) * (height - pad.top - pad.bottom);
  const xTicks = options.logX ? logTicks(10 ** x[0], 10 ** x[1]) : niceTicks(x[0], x[1], 4);
  const yTicks = niceTicks(y[0], y[1], 4);
  ctx.strokeStyle = theme.grid;
  ctx.fillStyle = theme.foreground;
  ctx.lineWidth = 1;
  ctx.textAlign = 'center';
  for (const tick of xTicks) {
    ctx.beginPath();
    ctx.moveTo(sx(tick), pad.top);
    ctx.lineTo(sx(tick), height - pad.bottom);
    ctx.stroke();
    ctx.fillText(formatTick(tick), sx(tick), height - pad.bottom + 14);
  }
  ctx.textAlign = 'right';
  for (const tick of yTicks) {
    ctx.beginPath();
    ctx.moveTo(pad.left, sy(tick));
    ctx.lineTo(width - pad.right, sy(tick));
    ctx.stroke();
    ctx.fillText(formatTick(tick), pad.left - 6, sy(tick) + 4);
  }
  ctx.textAlign = 'center';
  ctx.fillText(titles.x, (pad.left + width - pad.right) / 2, height - 4);
  ctx.save();
  ctx.translate(12, (pad.top + height - pad.bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(titles.y, 0, 0);
  ctx.restore();
  ctx.textAlign = 'left';
  return { sx, sy, xTicks, yTicks };
}

/** Ticks of a log axis from lo to hi (both > 0): 1, 2, 5 × 10^k, thinned to decades when there are many. */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** k;
      if (v >= lo && v <= hi) ticks.push(Number(v.toPrecision(6)));
    }
  }
  return ticks.length > 7 ? ticks.filter((v) => Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9) : ticks;
}

/** A diamond (Best-of-N's mark) of half-size r at (x, y), stroked. */
export function strokeDiamond(ctx: CanvasRenderingContext2D, x: number, y: number, r = 6): void {
  ctx.beginPath();
  ctx.moveTo(x, y - r);
  ctx.lineTo(x + r, y);
  ctx.lineTo(x, y + r);
  ctx.lineTo(x - r, y);
  ctx.closePath();
  ctx.stroke();
}

/** The drawn point nearest (x, y) in CSS px, within `radius`; undefined when none is that near (a click on empty space). */
export function nearestWithin<T extends { px: number; py: number }>(points: readonly T[], x: number, y: number, radius: number): T | undefined {
  let best: T | undefined;
  let distance = radius;
  for (const point of points) {
    const d = Math.hypot(point.px - x, point.py - y);
    if (d <= distance) {
      best = point;
      distance = d;
    }
  }
  return best;
}
