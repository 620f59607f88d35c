/**
 * Configs as the views compare them, the same rule on both sides: a config flattened to dotted fields
 * with JSON values, and the fields whose values differ between runs (the host narrows a table's
 * columns to those, the webview again to the runs it shows).
 */

/** A config as dotted fields → JSON values ({"bond": {"n": 4}} → {"bond.n": "4"}); lists stay whole. */
export function flattenConfig(config: Record<string, unknown>, prefix = ''): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [key, value] of Object.entries(config)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) Object.assign(flat, flattenConfig(value as Record<string, unknown>, name));
    else flat[name] = JSON.stringify(value) ?? 'null';
  }
  return flat;
}

/** Fields that name a run rather than configure it: its label says them already. */
const IDENTITY_FIELDS = new Set(['name']);

/** The flattened config fields whose values are not the same in every run (a field one run lacks differs). */
export function differingFields(configs: readonly Record<string, string>[]): string[] {
  const keys = new Set(configs.flatMap((config) => Object.keys(config)));
  return [...keys].filter((key) => !IDENTITY_FIELDS.has(key) && new Set(configs.map((config) => config[key] ?? '∅')).size > 1).sort();
}
