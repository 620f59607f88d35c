/**
 * The experiments table in headless Chromium, with 10,000 runs: only the rows in view are in the DOM,
 * scrolling reaches the last one, sort, filters, grouping by sweep, the column chooser, and a selection
 * that Compare receives in its picked order — and rows that follow their runs as updates arrive.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../helpers';
import { ARTIFACTS, cspViolations, experimentRows as makeRows, HOSTILE_LABEL as HOSTILE, startHarness, type Harness, type WebviewPage } from './harness';

const domRows = (view: WebviewPage): Promise<number> => view.page.$$eval('.exp-body .exp-row', (r) => r.length);
const firstRowDir = (view: WebviewPage): Promise<string | undefined> => view.page.$eval('.exp-body .exp-row[data-dir]', (r) => (r as HTMLElement).dataset.dir);
const counted = (view: WebviewPage): Promise<string> => view.page.textContent('.exp-count').then((t) => t ?? '');

describe('experiments webview', () => {
  let harness: Harness;
  before(async () => {
    harness = await startHarness();
  });
  after(async () => harness?.close());

  it('10,000 runs: virtualised rows, sort, filters, groups, columns, selection to Compare, and live updates', async () => {
    const view = await harness.open('experiments', { theme: 'dark', width: 1300, height: 800 });
    const rows = makeRows(10_000);
    await view.send({ type: 'snapshot', seq: 1, rows, fields: ['algorithm', 'anchor.ema_eta', 'train.lr'] });
    await waitFor(async () => /^10000 runs/.test(await counted(view)) || undefined, 'the count of 10,000 runs');
    const inDom = await domRows(view);
    assert.ok(inDom > 10 && inDom < 120, `only the rows in view are in the DOM: ${inDom}`);
    // the varying fields are columns
    const heads = await view.page.$$eval('.exp-head [data-column]', (cells) => cells.map((c) => (c as HTMLElement).dataset.column));
    assert.deepEqual(heads.filter((c) => c?.startsWith('config:')), ['config:algorithm', 'config:anchor.ema_eta', 'config:train.lr']);

    // ungrouped, sorted by reward (highest first): the first row is the best run, the last one reachable by scrolling
    await view.page.uncheck('input[aria-label="group by sweep"]');
    await view.page.click('.exp-head [data-column="reward"] button');
    const best = [...rows].sort((a, b) => (b.reward! - a.reward!) || a.dir.localeCompare(b.dir))[0]!;
    await waitFor(async () => (await firstRowDir(view)) === best.dir || undefined, `the best run (${best.dir}) first`);
    await view.page.$eval('.exp-viewport', (v) => { v.scrollTop = v.scrollHeight; });
    const worst = [...rows].sort((a, b) => (a.reward! - b.reward!) || b.dir.localeCompare(a.dir))[0]!;
    await view.page.locator(`.exp-row[data-dir="${worst.dir}"]`).waitFor({ timeout: 5_000 });
    assert.ok(await domRows(view) < 120, 'still only the rows in view');
    await view.page.$eval('.exp-viewport', (v) => { v.scrollTop = 0; });

    // text filter (words of fields and tags), status filter, sweep filter
    await view.page.fill('input[aria-label="filter"]', 'reinforce lr=0.002');
    const expected = rows.filter((r) => r.algorithm === 'reinforce' && r.config['train.lr'] === '0.002').length;
    await waitFor(async () => (await counted(view)).startsWith(`${expected} of 10000`) || undefined, `${expected} rows for the filter`);
    // among the filtered runs anchor.ema_eta (a J-BOND field) no longer varies: not a column
    const filteredHeads = await view.page.$$eval('.exp-head [data-column]', (cells) => cells.map((c) => (c as HTMLElement).dataset.column));
    assert.ok(!filteredHeads.includes('config:anchor.ema_eta') && !filteredHeads.includes('config:train.lr'), filteredHeads.join(','));
    await view.page.fill('input[aria-label="filter"]', '#baseline');
    await waitFor(async () => (await counted(view)).startsWith('100 of') || undefined, 'the tag filter');
    await view.page.fill('input[aria-label="filter"]', '');
    await view.page.selectOption('select[aria-label="status"]', 'failed');
    await waitFor(async () => (await counted(view)).startsWith('1000 of') || undefined, 'the status filter');
    await view.page.selectOption('select[aria-label="status"]', '');
    await view.page.selectOption('select[aria-label="sweep"]', '—');
    await waitFor(async () => (await counted(view)).startsWith('1000 of') || undefined, 'runs of no sweep');
    await view.page.selectOption('select[aria-label="sweep"]', '');

    // grouped by sweep: a header row per sweep; collapsing one hides its 3000 rows
    await view.page.check('input[aria-label="group by sweep"]');
    await view.page.$eval('.exp-viewport', (v) => { v.scrollTop = 0; });
    const header = view.page.locator('.exp-group').first();
    await header.waitFor();
    assert.match(await header.textContent() ?? '', /sweep sweep-\d · 3000 runs · \d+ done/);
    const itemsBefore = Number(await view.page.getAttribute('.exp-body', 'data-items'));
    await header.locator('button').click();
    await waitFor(async () => Number(await view.page.getAttribute('.exp-body', 'data-items')) === itemsBefore - 3000 || undefined, 'a collapsed sweep');

    // the column chooser hides a column, and the choice is kept
    await view.page.click('.column-chooser summary');
    await view.page.uncheck('.column-list input[data-column="kl"]');
    await waitFor(async () => (await view.page.locator('.exp-head [data-column="kl"]').count()) === 0 || undefined, 'the KL column hidden');
    assert.deepEqual((await view.state() as { hiddenColumns: string[] }).hiddenColumns, ['kl']);
    await view.page.click('.column-chooser summary');

    // select two rows: Compare gets them in the order picked, each row's swatch in Compare's colour
    const boxes = view.page.locator('.exp-body .exp-row[data-dir] input[type="checkbox"]');
    const second = await view.page.locator('.exp-body .exp-row[data-dir]').nth(1).getAttribute('data-dir');
    const first = await view.page.locator('.exp-body .exp-row[data-dir]').nth(0).getAttribute('data-dir');
    await boxes.nth(1).check();
    await boxes.nth(0).check();
    await waitFor(async () => / · 2 selected/.test(await counted(view)) || undefined, 'two selected');
    const swatches = await view.page.$$eval('.exp-row.selected .swatch', (s) => s.map((e) => getComputedStyle(e).backgroundColor));
    assert.equal(new Set(swatches).size, 2, 'each selected row has its own colour');
    await view.page.click('vscode-button:text("Compare")');
    assert.deepEqual((await view.waitForPosted('compare')).dirs, [second, first]);

    // live: a running run's row follows its updates; a removed run leaves (its sweep was collapsed above)
    await view.page.uncheck('input[aria-label="group by sweep"]');
    await view.send({ type: 'upsert', seq: 2, rows: [{ ...rows[42]!, step: 77, totalSteps: 150 }] });
    await view.page.fill('input[aria-label="filter"]', 'run-00042');
    await waitFor(async () => /running 77\/150/.test(await view.page.textContent('.exp-row[data-dir="/runs/r00042"]').catch(() => '') ?? '') || undefined, 'step 77');
    await view.send({ type: 'upsert', seq: 3, rows: [{ ...rows[42]!, status: 'completed', reward: 99 }] });
    await waitFor(async () => /completed[\s\S]*99\.0/.test(await view.page.textContent('.exp-row[data-dir="/runs/r00042"]').catch(() => '') ?? '') || undefined, 'completed with reward 99');
    await view.send({ type: 'remove', seq: 4, dirs: ['/runs/r00042'] });
    await waitFor(async () => (await counted(view)).startsWith('0 of 9999') || undefined, 'the removed run gone');
    // a sequence gap asks for a snapshot
    await view.send({ type: 'upsert', seq: 9, rows: [] });
    assert.equal((await view.waitForPosted('requestSnapshot')).type, 'requestSnapshot');

    await view.page.fill('input[aria-label="filter"]', '');
    await view.send({ type: 'snapshot', seq: 10, rows: rows.slice(0, 12), fields: ['train.lr'] });
    await waitFor(async () => /^12 runs/.test(await counted(view)) || undefined, 'a new snapshot replaces the rows');
    // hostile text is text; a row the reader had trouble with says so
    assert.ok((await view.page.textContent('.exp-body') ?? '').includes(HOSTILE));
    assert.equal(await view.page.$$eval('.exp-body img', (n) => n.length), 0);
    assert.match(await view.page.getAttribute('.exp-row[data-dir="/runs/r00003"] .exp-cell[title]', 'title') ?? '', /unknown status/);
    assert.deepEqual(await cspViolations(view.page), []);
    assert.deepEqual(view.problems(), []);
    await view.page.screenshot({ path: join(ARTIFACTS, 'experiments-dark.png') });
  });
});
