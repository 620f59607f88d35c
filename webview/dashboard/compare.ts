/**
 * Compare Runs: a table above the charts, one row per run, with the config fields that differ
 * between the runs (flattened: bond.ema_eta) and the last evaluation's reward, KL, effective N and
 * win rate; sortable by any column. Each row's swatch is the run's colour in every chart and in the
 * Pareto view.
 */
import { h } from '../shared/dom';
import { differingFields } from '../../contracts/config-fields';
import { formatNumber } from '../shared/format';
import type { RunData } from './model';

export const EVAL_COLUMNS: readonly { key: string; label: string }[] = [
  { key: 'eval/reward/policy', label: 'reward' }, { key: 'eval/kl/policy_ref', label: 'KL(π‖π_ref)' },
  { key: 'eval/effective_n', label: 'effective N' }, { key: 'eval/win_rate_vs_bon', label: 'win rate' },
];

export { differingFields };

/** The last evaluation's value of a metric, or null before the first evaluation. */
export function lastEval(run: RunData, key: string): number | null {
  const column = run.eval.columns.get(key);
  if (!column) return null;
  for (let i = column.length - 1; i >= 0; i--) if (column[i] !== null && column[i] !== undefined) return column[i] as number;
  return null;
}

/** `order`: the order the runs were picked in (the default), which the header cards and legends share. */
export interface SortState { column: string; descending: boolean }

export const PICKED_ORDER = 'order';

type Cell = string | number | null;

function compareCells(a: Cell, b: Cell): number {
  if (a === null) return b === null ? 0 : 1;  // blanks last, either way
  if (b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = Number(a);
  const y = Number(b);
  return Number.isFinite(x) && Number.isFinite(y) ? x - y : String(a).localeCompare(String(b));
}

function rowsOf(runs: readonly RunData[], fields: readonly string[]) {
  return runs.map((run, index) => ({
    index, run,
    cells: new Map<string, Cell>([[PICKED_ORDER, index], ['run', run.header.name], ...fields.map((f): [string, Cell] => [f, run.header.config[f] ?? null]),
      ...EVAL_COLUMNS.map((c): [string, Cell] => [c.key, lastEval(run, c.key)])]),
  }));
}

/** The runs' indices in the table's order: the header cards follow it too, so there is one order. */
export function sortedRunIndices(runs: readonly RunData[], sort: SortState): number[] {
  const rows = rowsOf(runs, differingFields(runs.map((run) => run.header.config)));
  rows.sort((a, b) => {
    const order = compareCells(a.cells.get(sort.column) ?? null, b.cells.get(sort.column) ?? null);
    return sort.descending && a.cells.get(sort.column) !== null && b.cells.get(sort.column) !== null ? -order : order;
  });
  return rows.map((row) => row.index);
}

/**
 * The table for these runs (colour(i) is run i's colour), sorted as `sort` says; clicking a header
 * sorts by it. Results first (reward, KL, effective N, win rate), then the config fields that differ.
 */
export function compareTable(runs: readonly RunData[], colour: (index: number) => string, sort: SortState,
  onSort: (column: string) => void): HTMLElement {
  const fields = differingFields(runs.map((run) => run.header.config));
  const columns = ['run', ...EVAL_COLUMNS.map((c) => c.key), ...fields];
  const label = (column: string): string => EVAL_COLUMNS.find((c) => c.key === column)?.label ?? column;
  const byIndex = rowsOf(runs, fields);
  const rows = sortedRunIndices(runs, sort).map((index) => byIndex[index]!);
  const head = h('tr', {}, columns.map((column) => {
    const arrow = sort.column === column ? (sort.descending ? ' ▼' : ' ▲') : '';
    return h('th', { attrs: { 'data-column': column, 'aria-sort': sort.column === column ? (sort.descending ? 'descending' : 'ascending') : 'none' } }, [
      h('button', { className: 'link-button sort-button', text: `${label(column)}${arrow}`, on: { click: () => onSort(column) } }),
    ]);
  }));
  const body = rows.map(({ index, run, cells }) => {
    const swatch = h('span', { className: 'swatch' });
    swatch.style.background = colour(index);
    return h('tr', { attrs: { 'data-dir': run.header.dir } }, columns.map((column) => {
      const value = cells.get(column) ?? null;
      if (column === 'run') return h('td', {}, [swatch, h('span', { text: run.header.name })]);
      return h('td', { text: value === null ? '—' : typeof value === 'number' ? formatNumber(value) : value });
    }));
  });
  return h('table', { className: 'compare-table' }, [h('thead', {}, [head]), h('tbody', {}, body)]);
}
