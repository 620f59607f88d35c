/**
 * A configuration's result over its seeds: the mean, the sample standard deviation, and a 95%
 * confidence interval of the mean from Student's t (few seeds: the normal 1.96 would be too narrow).
 */

/** Student's t, two-sided 95%, for 1–30 degrees of freedom; beyond, the normal's 1.96. */
const T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

export function t95(degreesOfFreedom: number): number {
  return T95[degreesOfFreedom - 1] ?? 1.96;
}

export interface Spread {
  n: number;
  mean: number;
  /** the sample standard deviation (n − 1); null for one value */
  std: number | null;
  /** half the width of the 95% interval of the mean, t(n − 1) · std / √n; null for one value */
  ci95: number | null;
}

export function spread(values: readonly number[]): Spread | null {
  const n = values.length;
  if (n === 0) return null;
  const mean = values.reduce((sum, v) => sum + v, 0) / n;
  if (n === 1) return { n, mean, std: null, ci95: null };
  const std = Math.sqrt(values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1));
  return { n, mean, std, ci95: (t95(n - 1) * std) / Math.sqrt(n) };
}

export type ErrorBars = 'std' | 'ci95';

/** The half-length of a bar, as the view's setting says; null when there is none (one seed). */
export function halfBar(s: Spread, bars: ErrorBars): number | null {
  return bars === 'std' ? s.std : s.ci95;
}
