/**
 * One uPlot chart of one metric family, for one run or overlaid runs. Data arrays grow in place as
 * lines arrive; smoothing is incremental; a long history is decimated to min/max per pixel for
 * display, and the raw (unsmoothed) line is drawn faint behind the smoothed one.
 */
import uPlot from 'uplot';
import type { DashboardRun, XAxis } from '../../contracts/webviews/dashboard';
import { h } from '../shared/dom';
import { formatDuration, formatNumber, formatTick } from '../shared/format';
import { decimateMinMax, nearestIndex, robustRange, type Aligned, type Column } from '../shared/series';
import type { RunData } from './model';
import {
  alignLines, allPositive, buildLines, followRange, safeName, seriesDash, SmoothedColumns, tableOf, visibleCsv, type Line, type LineStyle,
} from './chartData';
import type { ChartSpec } from './specs';

export interface ChartContext {
  runs(): RunData[];
  xAxis(): XAxis;
  smoothing(): number;
  isHidden(key: string): boolean;
  setHidden(key: string, hidden: boolean): void;
  compare(): boolean;
  runColour(index: number): string;
  seriesColour(index: number): string;
  theme(): { foreground: string; grid: string; background: string };
  exportCsv(fileName: string, content: string): void;
  exportPng(fileName: string, dataUrl: string): void;
  /** the background an exported picture gets (the dashboard's toolbar choice) */
  exportBackground(): 'light' | 'theme';
  /** scale y to the bulk of the values, not to spikes (the toolbar's choice) */
  ignoreOutliers(): boolean;
  /** this chart's y axis is logarithmic (its own toggle, kept in the view's state) */
  isLog(chartId: string): boolean;
  setLog(chartId: string, log: boolean): void;
  /** the step a samples view of this run shows, marked on every chart; null: none */
  marker(run: RunData): number | null;
  /** a point was clicked: show this run's samples nearest this step */
  openSamplesAt(run: RunData, step: number): void;
}

/** Pointer travel (px) below which a press-and-release is a click, not a zoom drag. */
const CLICK_SLOP = 4;

export class MetricChart {
  readonly element: HTMLElement;
  private plot: uPlot | undefined;
  private lines: Line[] = [];
  private readonly smoothed = new SmoothedColumns();
  /**
   * The user's x window, on the axis it was drawn on; null: the chart follows the run (the x range
   * spans every point and grows with new ones). Only a drag sets it; data never does.
   */
  private zoom: { axis: XAxis; range: [number, number] } | null = null;
  private readonly zoomBadge: HTMLElement;
  private readonly logButton: HTMLElement;
  /** the y axis is drawn logarithmic now: asked for, and every value is > 0 */
  private logActive = false;
  private renderedVersion = '';
  private full: Aligned = { xs: [], ys: [] };
  private rawShown: Column[] = [];
  private readonly body: HTMLElement;

  constructor(readonly spec: ChartSpec, private readonly context: ChartContext) {
    this.body = h('div', { className: 'chart-body' });
    this.zoomBadge = h('button', {
      className: 'link-button zoom-badge', text: 'zoomed · follow the run',
      title: 'This chart shows the range you dragged; new points arrive outside it. Click (or double-click the chart, or press Escape) to follow the run again.',
      on: { click: () => this.resetZoom() },
    });
    this.zoomBadge.hidden = true;
    this.logButton = h('button', {
      className: 'link-button log-toggle', text: 'log y',
      title: 'Draw this chart\'s y axis on a logarithmic scale (when every value is above 0)',
      on: { click: () => {
        this.context.setLog(spec.id, !this.context.isLog(spec.id));
        this.refresh(true);
      } },
    });
    const title = h('div', { className: 'chart-title' }, [
      h('span', { text: spec.title }),
      h('span', { className: 'chart-actions' }, [
        this.zoomBadge,
        this.logButton,
        h('button', { className: 'link-button', text: 'CSV', title: 'Export the visible data as CSV', on: { click: () => this.exportCsv() } }),
        h('button', { className: 'link-button', text: 'PNG', title: 'Save this chart as PNG', on: { click: () => this.exportPng() } }),
      ]),
    ]);
    // Reachable by keyboard, with a name: Tab to a chart, Escape or 0 returns a zoomed one to following.
    this.element = h('section', { className: 'chart', attrs: { 'data-chart': spec.id, tabindex: '0', role: 'figure', 'aria-label': `${spec.title} chart` } }, [title, this.body]);
    this.element.addEventListener('keydown', (event) => {
      if ((event.key === 'Escape' || event.key === '0') && this.zoom) {
        this.resetZoom();
        event.stopPropagation();
      }
    });
  }

  /** true when at least one run has at least one point of this chart */
  hasData(): boolean {
    return this.context.runs().some((run) => this.spec.series.some((s) => (tableOf(this.spec, run).columns.get(s.key)?.length ?? 0) > 0));
  }

  private lineStyle(): LineStyle {
    const c = this.context;
    return { compare: c.compare(), smoothing: c.smoothing(), xAxis: c.xAxis(), runColour: (i) => c.runColour(i),
      seriesColour: (i) => c.seriesColour(i), foreground: c.theme().foreground };
  }

  private versionKey(): string {
    return [this.context.xAxis(), this.context.smoothing(), ...this.context.runs().map((run) => `${run.header.dir}:${run.version}:${run.header.bonN}`)].join('|');
  }

  /** Bring the chart up to date; cheap when nothing changed. */
  refresh(force = false): void {
    const version = this.versionKey();
    if (!force && version === this.renderedVersion && this.plot) return;
    if (force) this.smoothed.clear();
    // a window drawn on the step axis means nothing on the time axis: switching shows the whole run
    if (this.zoom && this.zoom.axis !== this.context.xAxis()) this.setZoom(null);
    const lines = buildLines(this.spec, this.context.runs(), this.lineStyle(), this.smoothed);
    const structure = lines.map((line) => line.label).join('\u0000');
    this.full = alignLines(this.spec, this.context.runs(), lines, this.context.xAxis());
    // A log axis cannot show 0 or a negative value: the chart stays linear and says why.
    const wantLog = this.context.isLog(this.spec.id);
    const log = wantLog && allPositive(this.full.ys);
    const rebuild = !this.plot || force || log !== this.logActive || structure !== this.lines.map((line) => line.label).join('\u0000');
    this.logActive = log;
    this.element.dataset.logY = log ? 'on' : wantLog ? 'unavailable' : 'off';
    this.logButton.textContent = log ? 'linear y' : wantLog ? 'log y: values ≤ 0' : 'log y';
    if (rebuild) this.create();
    else this.lines = lines;
    this.renderedVersion = version;
    this.applyData();
  }

  private setZoom(range: [number, number] | null): void {
    this.zoom = range ? { axis: this.context.xAxis(), range } : null;
    this.zoomBadge.hidden = range === null;
    this.element.dataset.zoomed = String(range !== null);
  }

  private plotWidth(): number {
    return Math.max(200, this.body.clientWidth || 600);
  }

  /**
   * Give uPlot the visible window, decimated to about one min/max pair per pixel. Following (no
   * zoom), the x range is set to span every point, so it grows with the run; zoomed, it stays put.
   */
  private applyData(): void {
    if (!this.plot) return;
    const { xs } = this.full;
    const first = xs[0];
    const last = xs.at(-1);
    let data: Aligned = this.full;
    const range = this.zoom?.range ?? followRange(this.context.runs(), this.context.xAxis(), first, last);
    if (range) data = decimateMinMax(this.full, range[0], range[1], Math.round(this.plotWidth()));
    const count = this.lines.length;
    this.rawShown = data.ys.slice(count, 2 * count);
    const table = [data.xs, ...data.ys.slice(0, count)] as uPlot.AlignedData;
    // Set x explicitly in both cases: uPlot's own re-ranging is deferred to a microtask and, with a
    // single point, pads the range; an explicit window is what the user sees, always.
    this.plot.batch(() => {
      this.plot?.setData(table, true);
      if (range) this.plot?.setScale('x', { min: range[0], max: range[0] === range[1] ? range[0] + 1 : range[1] });
    });
    this.element.dataset.points = String(xs.length);
    this.element.dataset.shown = String(data.xs.length);
    this.element.dataset.lastX = last === undefined ? '' : String(last);
    this.element.dataset.xAxis = this.context.xAxis();
  }

  /** A drag on the plot selected an x window: zoom to it (the selection box is cleared). */
  private zoomToSelection(u: uPlot): void {
    const { left, width } = u.select;
    if (width <= CLICK_SLOP) return;
    const min = u.posToVal(left, 'x');
    const max = u.posToVal(left + width, 'x');
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    if (!Number.isFinite(min) || !Number.isFinite(max) || max <= min) return;
    this.setZoom([min, max]);
    this.applyData();
  }

  /**
   * What the on-screen chart and an exported picture share: axes with their labels and ticks, and a
   * series per line. `scale` multiplies every size (fonts, strokes, gaps) for a high-resolution export.
   */
  private plotParts(theme: { foreground: string; grid: string }, scale: number): Pick<uPlot.Options, 'axes' | 'series' | 'scales'> {
    const xIsTime = this.context.xAxis() === 'time';
    // steps are integers: no 2.5 ticks on a step axis
    const STEP_INCREMENTS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 2e6, 5e6];
    const font = `${Math.round(11 * scale)}px sans-serif`;
    const axis = (label: string, values?: uPlot.Axis['values'], incrs?: number[]): uPlot.Axis => ({
      label, stroke: theme.foreground, grid: { stroke: theme.grid, width: scale }, ticks: { stroke: theme.grid, width: scale, size: 10 * scale },
      labelSize: 18 * scale, labelGap: 0, font, labelFont: font, gap: 5 * scale, ...(values ? { values } : {}), ...(incrs ? { incrs } : {}),
    });
    const outliers = this.context.ignoreOutliers();
    return {
      scales: {
        x: { time: false },
        // log: uPlot's base-10 distribution (every value is > 0, refresh checked); its own range
        ...(this.logActive ? { y: { distr: 3, log: 10 } } : {}),
        // TensorBoard's "ignore outliers": the y range from the bulk of the visible values
        ...(outliers && !this.logActive ? { y: { range: (u: uPlot, min: number, max: number): uPlot.Range.MinMax => {
          const [i0, i1] = [u.series[0]?.idxs?.[0] ?? 0, (u.series[0]?.idxs?.[1] ?? (u.data[0]?.length ?? 1) - 1) + 1];
          const shown = u.data.slice(1).filter((_, i) => u.series[i + 1]?.show !== false).map((c) => (c as (number | null)[]).slice(i0, i1));
          return robustRange(shown) ?? [min, max];
        } } } : {}),
      },
      axes: [
        axis(xIsTime ? 'wall time' : 'step', xIsTime ? (_u, ticks) => ticks.map((t) => formatDuration(t)) : undefined, xIsTime ? undefined : STEP_INCREMENTS),
        // a short label: the title sits above the chart; "(held-out prompts)" and units need no repeating
        { ...axis(this.spec.series.length === 1 ? this.spec.series[0]?.label ?? '' : this.spec.title.replace(/\s*\(.*\)\s*$/, '').toLowerCase(),
          (_u, ticks) => ticks.map((t) => formatTick(t))), size: fitTickLabels },
      ],
      series: [
        { label: xIsTime ? 'time' : 'step', value: (_u, v) => (v === null ? '–' : xIsTime ? formatDuration(v) : String(v)) },
        ...this.lines.map((line): uPlot.Series => ({
          label: line.label,
          stroke: line.colour,
          width: (line.reference ? 1 : 1.5) * scale,
          ...(line.dash ? { dash: line.dash.map((d) => d * scale) } : {}),
          spanGaps: true,
          points: { show: this.spec.table === 'eval' && !line.reference, size: 5 * scale, width: scale },
          show: !this.context.isHidden(`${this.spec.id}/${line.label}`),
          value: (_u, v) => formatNumber(v),
        })),
      ],
    };
  }

  private create(): void {
    this.plot?.destroy();
    this.lines = buildLines(this.spec, this.context.runs(), this.lineStyle(), this.smoothed);
    const options: uPlot.Options = {
      width: this.plotWidth(),
      height: 200,
      pxAlign: 0,
      // Compare mode: one legend of runs for the whole dashboard, and under each chart its series'
      // line styles once, instead of an entry per run per series.
      legend: { live: true, show: !this.context.compare() },
      cursor: {
        sync: { key: 'bond-dashboard', setSeries: false },
        // uPlot only draws the selection; zoomToSelection turns it into a zoom, so that nothing but a
        // user's drag is ever taken for one (uPlot's setScale hook also fires for its own re-ranging)
        drag: { x: true, y: false, setScale: false },
        bind: { dblclick: () => () => { this.resetZoom(); return null; } },
      },
      ...this.plotParts(this.context.theme(), 1),
      hooks: {
        drawClear: [(u) => this.drawRaw(u, 1)],
        draw: [(u) => {
          this.element.dataset.yMax = String(u.scales.y?.max ?? '');
          // what is plotted, for tests that watch a live chart follow its run
          this.element.dataset.xMin = String(u.scales.x?.min ?? '');
          this.element.dataset.xMax = String(u.scales.x?.max ?? '');
          this.drawReferenceLines(u);
          this.drawMarkers(u);
        }],
        setSeries: [(u, index) => {
          if (index === null || index === 0) return;
          const line = this.lines[index - 1];
          if (line) this.context.setHidden(`${this.spec.id}/${line.label}`, !u.series[index]?.show);
        }],
        setSelect: [(u) => this.zoomToSelection(u)],
      },
    };
    this.body.replaceChildren();
    this.plot = new uPlot(options, [[]], this.body);
    this.listenForClicks(this.plot);
    if (this.context.compare()) this.body.append(this.seriesKey());
  }

  /** Compare mode: this chart's series as line styles (the runs' colours are in the shared legend). */
  private seriesKey(): HTMLElement {
    const reference = this.spec.reference ? this.spec.reference(this.context.runs()[0]!.header) : null;
    const entries = [...this.spec.series.map((series, i) => ({ label: series.label, dash: seriesDash(i) })),
      ...(reference ? [{ label: reference.label, dash: [3, 4] }] : [])];
    return h('div', { className: 'series-key' }, entries.map((entry) => {
      const sample = h('canvas', { className: 'series-key-line' });
      sample.width = 24 * devicePixelRatio;
      sample.height = 8 * devicePixelRatio;
      const ctx = sample.getContext('2d');
      if (ctx) {
        ctx.strokeStyle = this.context.theme().foreground;
        ctx.lineWidth = 1.5 * devicePixelRatio;
        ctx.setLineDash((entry.dash ?? []).map((d) => d * devicePixelRatio));
        ctx.beginPath();
        ctx.moveTo(0, sample.height / 2);
        ctx.lineTo(sample.width, sample.height / 2);
        ctx.stroke();
      }
      return h('span', { className: 'series-key-entry' }, [sample, h('span', { text: entry.label })]);
    }));
  }

  /** Redraw without new data (a marker moved). */
  redraw(): void {
    this.plot?.redraw(false, false);
  }

  /** The x of a run's step on this chart's axis: the step, or the wall time of its nearest row. */
  private xOfStep(run: RunData, step: number): number | null {
    if (this.context.xAxis() === 'step') return step;
    const table = tableOf(this.spec, run);
    const index = nearestIndex(table.steps, step);
    return index === null ? null : table.times[index] ?? null;
  }

  /** A vertical line at each step where a resume changed a run's config, labelled "config changed". */
  private drawConfigChanges(u: uPlot): void {
    const drawn: string[] = [];
    const ctx = u.ctx;
    this.context.runs().forEach((run, index) => {
      for (const change of run.header.configChanges ?? []) {
        const x = this.xOfStep(run, change.step);
        if (x === null) continue;
        const px = u.valToPos(x, 'x', true);
        if (!Number.isFinite(px) || px < u.bbox.left || px > u.bbox.left + u.bbox.width) continue;
        drawn.push(`${index}:${change.step}`);
        ctx.save();
        ctx.strokeStyle = this.context.compare() ? this.context.runColour(index) : this.context.theme().foreground;
        ctx.globalAlpha = 0.55;
        ctx.lineWidth = 2 * devicePixelRatio;
        ctx.beginPath();
        ctx.moveTo(px, u.bbox.top);
        ctx.lineTo(px, u.bbox.top + u.bbox.height);
        ctx.stroke();
        ctx.fillStyle = ctx.strokeStyle;
        ctx.globalAlpha = 0.85;
        ctx.font = `${10 * devicePixelRatio}px sans-serif`;
        ctx.fillText('config changed', px + 3 * devicePixelRatio, u.bbox.top + u.bbox.height - 4 * devicePixelRatio);
        ctx.restore();
      }
    });
    this.element.dataset.configChanges = drawn.join(' ');
  }

  /** Reference lines (targets, bounds) across the whole plot: also with a single point, which draws no line. */
  private drawReferenceLines(u: uPlot): void {
    const ctx = u.ctx;
    let drawn = 0;
    this.lines.forEach((line, i) => {
      const value = line.reference ? line.raw()[0] : undefined;
      if (value === null || value === undefined || !u.series[i + 1]?.show) return;
      const py = u.valToPos(value, 'y', true);
      if (!Number.isFinite(py) || py < u.bbox.top || py > u.bbox.top + u.bbox.height) return;
      ctx.save();
      ctx.strokeStyle = line.colour;
      ctx.lineWidth = devicePixelRatio;
      ctx.setLineDash((line.dash ?? [3, 4]).map((d) => d * devicePixelRatio));
      ctx.beginPath();
      ctx.moveTo(u.bbox.left, py);
      ctx.lineTo(u.bbox.left + u.bbox.width, py);
      ctx.stroke();
      ctx.restore();
      drawn++;
    });
    this.element.dataset.referenceLines = String(drawn);
  }

  /** A dashed vertical line at each run's marked step, labelled with it. */
  private drawMarkers(u: uPlot): void {
    this.drawConfigChanges(u);
    const marked: string[] = [];
    const ctx = u.ctx;
    this.context.runs().forEach((run, index) => {
      const step = this.context.marker(run);
      if (step === null) return;
      const x = this.xOfStep(run, step);
      if (x === null) return;
      const px = u.valToPos(x, 'x', true);
      if (!Number.isFinite(px) || px < u.bbox.left || px > u.bbox.left + u.bbox.width) return;
      marked.push(`${index}:${step}`);
      ctx.save();
      ctx.strokeStyle = this.context.compare() ? this.context.runColour(index) : this.context.theme().foreground;
      ctx.globalAlpha = 0.7;
      ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
      ctx.lineWidth = devicePixelRatio;
      ctx.beginPath();
      ctx.moveTo(px, u.bbox.top);
      ctx.lineTo(px, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.font = `${10 * devicePixelRatio}px sans-serif`;
      ctx.fillText(`samples: step ${step}`, px + 3 * devicePixelRatio, u.bbox.top + 10 * devicePixelRatio);
      ctx.restore();
    });
    this.element.dataset.marker = marked.join(' ');
  }

  /**
   * A click (not a zoom drag) on the plot opens the samples at the step under the cursor: of the one
   * run, or in compare mode of the run whose line is nearest the pointer.
   */
  private listenForClicks(u: uPlot): void {
    let down: { x: number; y: number } | null = null;
    u.over.title = 'Click a point to open the samples nearest its step';
    u.over.addEventListener('mousedown', (event) => {
      down = { x: event.clientX, y: event.clientY };
    });
    u.over.addEventListener('click', (event) => {
      const start = down;
      down = null;
      if (!start || Math.hypot(event.clientX - start.x, event.clientY - start.y) > CLICK_SLOP) return;
      const rect = u.over.getBoundingClientRect();
      const left = event.clientX - rect.left;
      const top = event.clientY - rect.top;
      const x = u.posToVal(left, 'x');
      const runs = this.context.runs();
      const run = runs.length === 1 ? runs[0] : this.nearestRun(u, left, top);
      if (!run || !Number.isFinite(x)) return;
      const table = tableOf(this.spec, run);
      const index = nearestIndex(this.context.xAxis() === 'step' ? table.steps : table.times, x);
      const step = index === null ? null : table.steps[index];
      if (step !== undefined && step !== null) this.context.openSamplesAt(run, step);
    });
  }

  private nearestRun(u: uPlot, left: number, top: number): RunData | undefined {
    const runs = this.context.runs();
    const linesPerRun = this.lines.length / Math.max(1, runs.length);
    const idx = u.posToIdx(left);
    let nearest: RunData | undefined;
    let distance = Infinity;
    this.lines.forEach((line, i) => {
      const y = u.data[i + 1]?.[idx];
      if (line.reference || !u.series[i + 1]?.show || y === null || y === undefined) return;
      const d = Math.abs(u.valToPos(y, 'y') - top);
      if (d < distance) {
        distance = d;
        nearest = runs[Math.floor(i / linesPerRun)];
      }
    });
    return nearest;
  }

  /** The unsmoothed line, faint, under the smoothed one. */
  private drawRaw(u: uPlot, scale: number): void {
    const ctx = u.ctx;
    const xs = u.data[0];
    ctx.save();
    ctx.beginPath();
    ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
    ctx.clip();
    this.lines.forEach((line, i) => {
      const column = this.rawShown[i];
      if (!line.smoothed || !column || !u.series[i + 1]?.show) return;
      ctx.strokeStyle = line.colour;
      ctx.globalAlpha = 0.25;
      ctx.lineWidth = scale * devicePixelRatio;
      ctx.beginPath();
      let pen = false;
      for (let k = 0; k < xs.length; k++) {
        const y = column[k];
        if (y === null || y === undefined || !Number.isFinite(y)) continue;
        const px = u.valToPos(xs[k] as number, 'x', true);
        const py = u.valToPos(y, 'y', true);
        if (pen) ctx.lineTo(px, py);
        else ctx.moveTo(px, py);
        pen = true;
      }
      ctx.stroke();
    });
    ctx.restore();
  }

  /** Back to following the run. */
  resetZoom(): void {
    this.setZoom(null);
    this.applyData();
  }

  resize(): void {
    if (!this.plot) return;
    this.plot.setSize({ width: this.plotWidth(), height: 200 });
    this.applyData();
  }

  /** The visible window's rows at full resolution, as CSV (chartData.visibleCsv). */
  visibleCsv(): string {
    return visibleCsv(this.spec, this.context.runs(), this.lines, this.full, this.zoom?.range ?? null, this.context.xAxis(),
      this.context.smoothing());
  }

  /** The file name an export gets: the run's label (or "compare" for several) and the chart's. */
  private exportName(extension: string): string {
    const runs = this.context.runs();
    const who = runs.length === 1 ? runs[0]?.header.name ?? 'run' : `compare-${runs.length}-runs`;
    return `${safeName(who)}-${safeName(this.spec.id)}.${extension}`;
  }

  private exportCsv(): void {
    this.context.exportCsv(this.exportName('csv'), this.visibleCsv());
  }

  /**
   * A picture for a paper or a report, drawn anew rather than copied from the screen: at least
   * 1200 px wide and twice the screen's pixels, with the title, axis labels and a legend, on a light
   * or the theme's background, without the cursor, the selection or the samples marker.
   */
  renderPng(background: 'light' | 'theme'): string | undefined {
    if (!this.plot) return undefined;
    const ratio = devicePixelRatio || 1;
    const cssWidth = this.plotWidth();
    const scale = Math.max(2, 1200 / (cssWidth * ratio));
    const colours = background === 'light' ? { foreground: '#1f1f1f', grid: '#d0d0d0', background: '#ffffff' } : this.context.theme();
    const holder = h('div');
    holder.style.cssText = 'position: fixed; left: -100000px; top: 0;';
    document.body.append(holder);
    const data = [this.plot.data[0], ...this.plot.data.slice(1)] as uPlot.AlignedData;
    const picture = new uPlot({
      width: cssWidth * scale, height: 200 * scale, pxAlign: 0, legend: { show: false }, cursor: { show: false },
      ...this.plotParts(colours, scale),
      hooks: { drawClear: [(u) => this.drawRaw(u, scale)] },
    }, data, holder);
    // batch: uPlot commits size, scales and drawing in a microtask; the picture is needed now
    const x = this.plot.scales.x;
    picture.batch(() => picture.setScale('x', { min: x?.min ?? 0, max: x?.max ?? 1 }));
    const plotCanvas = picture.ctx.canvas;
    const px = (n: number) => Math.round(n * scale * ratio);
    const titleHeight = px(26);
    // the legend: a swatch and a label per line shown, wrapped to the picture's width
    const ctx0 = document.createElement('canvas').getContext('2d');
    const shown = this.lines.filter((_, i) => this.plot?.series[i + 1]?.show !== false);
    const font = `${px(11)}px sans-serif`;
    if (ctx0) ctx0.font = font;
    const entries = shown.map((line) => ({ line, width: px(26) + (ctx0?.measureText(line.label).width ?? line.label.length * px(6)) + px(16) }));
    const legendRows: (typeof entries)[] = [[]];
    let used = px(8);
    for (const entry of entries) {
      if (used + entry.width > plotCanvas.width && legendRows.at(-1)!.length) {
        legendRows.push([]);
        used = px(8);
      }
      legendRows.at(-1)!.push(entry);
      used += entry.width;
    }
    const legendHeight = legendRows.length * px(18) + px(8);
    const canvas = document.createElement('canvas');
    canvas.width = plotCanvas.width;
    canvas.height = titleHeight + plotCanvas.height + legendHeight;
    const ctx = canvas.getContext('2d');
    if (!ctx) return undefined;
    ctx.fillStyle = colours.background;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = colours.foreground;
    ctx.font = `600 ${px(14)}px sans-serif`;
    ctx.fillText(this.spec.title, px(8), px(18));
    ctx.drawImage(plotCanvas, 0, titleHeight);
    ctx.font = font;
    legendRows.forEach((row, r) => {
      let x = px(8);
      const y = titleHeight + plotCanvas.height + px(6) + r * px(18) + px(9);
      for (const { line, width } of row) {
        ctx.strokeStyle = line.colour;
        ctx.lineWidth = px(2);
        ctx.setLineDash(line.dash ? line.dash.map((d) => px(d)) : []);
        ctx.beginPath();
        ctx.moveTo(x, y);
        ctx.lineTo(x + px(20), y);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.fillStyle = colours.foreground;
        ctx.textBaseline = 'middle';
        ctx.fillText(line.label, x + px(26), y);
        x += width;
      }
    });
    picture.destroy();
    holder.remove();
    return canvas.toDataURL('image/png');
  }

  private exportPng(): void {
    const png = this.renderPng(this.context.exportBackground());
    if (png) this.context.exportPng(this.exportName('png'), png);
  }

  /** for tests and the bench: the canvas uPlot draws on */
  get canvas(): HTMLCanvasElement | undefined {
    return this.plot?.ctx.canvas;
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = undefined;
  }
}

/** A y axis as wide as its longest tick label (uPlot's own size is fixed and cuts long ones). */
function fitTickLabels(u: uPlot, values: string[] | null, axisIndex: number, cycle: number): number {
  const axis = u.axes[axisIndex] as uPlot.Axis & { _size?: number; font?: string[] | string };
  if (cycle > 1 && axis._size) return axis._size; // settle, do not oscillate
  const ticks = (axis.ticks as { size?: number } | undefined)?.size ?? 10;
  let size = ticks + (axis.gap ?? 5);
  const longest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), '');
  if (longest) {
    u.ctx.font = Array.isArray(axis.font) ? axis.font[0] ?? '11px sans-serif' : axis.font ?? '11px sans-serif';
    size += u.ctx.measureText(longest).width / (devicePixelRatio || 1);
  }
  return Math.ceil(size) + 2;
}

export type { DashboardRun };
