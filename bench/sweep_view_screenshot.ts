/**
 * The Sweep view of a real sweep folder, as a picture: reads the folder as the editor does
 * (readSweepView: sweep.json, analysis.json, the runs), renders the built webview in headless
 * Chromium with the light theme, and saves a screenshot (for bench/RESULTS.md and the README).
 *
 *   npm run build && npm run build:test && node out/bench/sweep_view_screenshot.js DIR OUT.png [--ci95] [--log-x]
 */
import { readSweepView } from '../src/core/sweepAnalysis';
import { startHarness } from '../test/webview/harness';

async function main(): Promise<void> {
  const [folder, out] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  if (!folder || !out) throw new Error('usage: sweep_view_screenshot DIR OUT.png [--ci95] [--log-x]');
  const bars = process.argv.includes('--ci95') ? 'ci95' : 'std';
  const view = readSweepView(folder, []);
  if (view.notes.length) console.log(`notes: ${view.notes.join(' | ')}`);
  const harness = await startHarness();
  try {
    const page = await harness.open('sweep', { theme: 'light', width: 1100, height: 900,
      state: { folder, xMetric: 'eval/kl/policy_ref', yMetric: 'eval/reward/policy', errorBars: bars, logX: process.argv.includes('--log-x'), sort: { column: 'trial', descending: false } } });
    await page.send({ type: 'snapshot', seq: 1, sweep: view });
    await page.page.waitForSelector('.trials-table tr[data-trial]');
    await page.page.screenshot({ path: out, fullPage: true });
    const points = JSON.parse(await page.page.getAttribute('[data-chart="sweep-scatter"]', 'data-points') ?? '[]') as { trial: number; x: number; y: number; front: boolean }[];
    console.log(`${view.trials.length} configurations, ${points.length} plotted, front: ${points.filter((p) => p.front).map((p) => p.trial).join(', ')}`);
    console.log(`wrote ${out}`);
  } finally {
    await harness.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
});
