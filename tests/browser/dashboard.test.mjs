// The dashboard in a real browser: Debian's chromium driven by playwright-core.
//
//   HERMES_DASHBOARD_URL   the page (under `hermes dev`: http://127.0.0.1:8080/dashboard)
//   HERMES_INGEST_URL      where purchases are posted (under `hermes dev`: http://127.0.0.1:8080/)
//   HERMES_CHROMIUM        the browser (default /usr/bin/chromium)
//   HERMES_BEARER_TOKEN    sent to ingest when set
//
// Without the two URLs the test is skipped; without chromium or playwright-core it
// is skipped too, except in CI (CI set), where that is a failure. `run-on-emulator`
// beside this file starts the real functions on the emulator and runs this test.
//
// It checks: the empty state (when the store starts empty), that each purchase
// shows in the table and totals of the open page within 2 s without a reload, the
// top-items chart, no request leaving the dashboard's origin, no script errors, the
// trailing-slash URL, past 100 items the top 100 with "showing 100 of N items", a
// phone-width layout without horizontal overflow; and it writes
// docs/dashboard.png (1280x800) plus phone screenshots in a temporary directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const DASHBOARD = process.env.HERMES_DASHBOARD_URL;
const INGEST = process.env.HERMES_INGEST_URL;
const CHROMIUM = process.env.HERMES_CHROMIUM || '/usr/bin/chromium';
const TOKEN = (process.env.HERMES_BEARER_TOKEN || '').split(',')[0].trim();
const CI = !['', 'false', '0'].includes(process.env.CI || '');
const SCREENSHOT = process.env.HERMES_SCREENSHOT || join(here, '..', '..', 'docs', 'dashboard.png');
const LIVE_WITHIN_MS = 2000;

/** Why the test cannot run here, or null. Missing browser tools fail in CI. */
async function missing() {
  if (!DASHBOARD || !INGEST) {
    return 'set HERMES_DASHBOARD_URL and HERMES_INGEST_URL (or run tests/browser/run-on-emulator)';
  }
  let why = null;
  if (!existsSync(CHROMIUM)) why = `${CHROMIUM} is missing: run scripts/install-browser-tools`;
  try {
    await import('playwright-core');
  } catch {
    why = 'playwright-core is not installed in tests/browser: run scripts/install-browser-tools';
  }
  if (why && CI) throw new Error(why);
  return why;
}

const PRODUCTS = {
  'BLZ-001': { item_name: 'Navy Wool Blazer', item_category: 'Apparel', price: 1499 },
  'SHT-014': { item_name: 'Oxford Shirt', item_category: 'Apparel', price: 449 },
  'CHN-220': { item_name: 'Slim Chinos', item_category: 'Apparel', price: 599 },
  'SNK-310': { item_name: 'Leather Sneakers', item_category: 'Shoes', price: 899 },
  'BLT-045': { item_name: 'Leather Belt', item_category: 'Accessories', price: 299 },
  'SCF-102': { item_name: 'Merino Scarf', item_category: 'Accessories', price: 349 },
  'SCK-007': { item_name: 'Cotton Socks 3-pack', item_category: 'Accessories', price: 129 },
  'TEE-501': { item_name: 'Organic T-Shirt', item_category: 'Apparel', price: 199 },
};

/** Purchases as [item id, quantity] lines. */
const PURCHASES = [
  [['BLZ-001', 1], ['SHT-014', 2]],
  [['TEE-501', 3], ['SCK-007', 2]],
  [['SNK-310', 1], ['BLT-045', 1]],
  [['SHT-014', 1], ['CHN-220', 2], ['TEE-501', 2]],
  [['SCF-102', 1], ['SCK-007', 3], ['TEE-501', 1]],
  [['BLZ-001', 1], ['SNK-310', 1], ['SHT-014', 1]],
];

function apiUrl(dashboard) {
  const u = new URL(dashboard);
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  u.pathname += 'api/items';
  return u.toString();
}

async function readItems() {
  const r = await fetch(apiUrl(DASHBOARD), { cache: 'no-store' });
  assert.equal(r.status, 200, `GET ${apiUrl(DASHBOARD)}: HTTP ${r.status}`);
  return r.json();
}

async function post(events) {
  const headers = { 'content-type': 'application/json' };
  if (TOKEN) headers.authorization = `Bearer ${TOKEN}`;
  const r = await fetch(INGEST, { method: 'POST', headers, body: JSON.stringify(events) });
  const body = await r.text();
  assert.ok(r.status === 200, `POST ${INGEST}: HTTP ${r.status} ${body}`);
}

/** A number shown on the page ("DKK 1,499.00" -> 1499; the page runs in en-US). */
const NUMBER = (text) => Number(String(text).replace(/[^0-9.-]/g, ''));

function watch(page) {
  const problems = [];
  const origin = new URL(DASHBOARD).origin;
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith('data:')) problems.push(`request elsewhere: ${url}`);
  });
  return problems;
}

/** Nothing wider than the viewport: the page itself never scrolls sideways. */
async function assertNoHorizontalOverflow(page, what) {
  const m = await page.evaluate(() => ({
    inner: window.innerWidth,
    doc: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
  }));
  assert.ok(m.doc <= m.inner && m.body <= m.inner, `${what}: horizontal overflow ${JSON.stringify(m)}`);
}

test('the dashboard in a real browser', { timeout: 120_000 }, async (t) => {
  const why = await missing();
  if (why) {
    t.skip(why);
    return;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--disable-gpu', '--disable-quic', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'],
  });
  const shots = mkdtempSync(join(tmpdir(), 'hermes-dashboard-'));
  t.diagnostic(`screenshots: ${SCREENSHOT} and ${shots}`);
  try {
    const desktop = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      locale: 'en-US',
      timezoneId: 'UTC',
    });
    const page = await desktop.newPage();
    const problems = watch(page);
    const start = await readItems();
    const fresh = start.items.length === 0;
    // On a store that already has data (a second run against the same server),
    // fresh item ids keep the expected counts exact.
    const suffix = fresh ? '' : `-${Date.now().toString(36)}`;

    await page.goto(DASHBOARD);
    await page.waitForSelector('body[data-state="empty"], body[data-state="items"]', { timeout: 5000 });
    await page.waitForSelector('#status[data-state="live"]', { timeout: 5000 });

    await t.test('empty state tells what to send', async (st) => {
      if (!fresh) {
        st.skip(`the store already holds ${start.items.length} items: empty state not checked`);
        return;
      }
      assert.equal(await page.getAttribute('body', 'data-state'), 'empty');
      assert.ok(await page.isVisible('#empty'));
      assert.ok(!(await page.isVisible('#content')));
      const curl = await page.textContent('#curl');
      assert.match(curl, /^curl -X POST '/);
      assert.ok(curl.includes(`'${new URL(INGEST).toString()}'`) || curl.includes("'http"), curl);
      assert.match(curl, /"event_name":"purchase"/);
      assert.match(curl, /"items":\[/);
      assert.equal(NUMBER(await page.textContent('#kpi-counter')), 0);
      await page.screenshot({ path: join(shots, 'empty-1280.png') });

      const phone = await browser.newContext({
        viewport: { width: 390, height: 844 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
        locale: 'en-US',
      });
      const p = await phone.newPage();
      await p.goto(DASHBOARD);
      await p.waitForSelector('body[data-state="empty"]', { timeout: 5000 });
      await assertNoHorizontalOverflow(p, 'empty state at 390 px');
      await p.screenshot({ path: join(shots, 'empty-390.png'), fullPage: true });
      await phone.close();
    });

    await t.test('purchases show live, without a reload, within 2 s', async () => {
      const marker = `hermes-${Math.random().toString(36).slice(2)}`;
      await page.evaluate((m) => {
        window.__hermesMarker = m;
      }, marker);
      const expected = {};
      let totalCounter = start.totals.counter;
      // Amounts are by currency: { "DKK": … }. These purchases are in DKK only.
      let totalRevenue = (start.totals.revenue || {}).DKK || 0;
      for (const [n, lines] of PURCHASES.entries()) {
        const items = lines.map(([id, quantity]) => ({ item_id: id + suffix, ...PRODUCTS[id], quantity }));
        const value = items.reduce((sum, i) => sum + i.price * i.quantity, 0);
        for (const i of items) {
          expected[i.item_id] = (expected[i.item_id] || 0) + i.quantity;
          totalCounter += i.quantity;
          totalRevenue += i.price * i.quantity;
        }
        const posted = Date.now();
        await post([
          {
            event_name: 'purchase',
            transaction_id: `T-${1000 + n}${suffix}`,
            value,
            currency: 'DKK',
            items: items.map((i) => ({ ...i, currency: 'DKK' })),
          },
        ]);
        // Every item of this purchase and the totals row, on the page already open.
        await page.waitForFunction(
          ({ want, counter }) => {
            const num = (s) => Number(String(s).replace(/[^0-9.-]/g, ''));
            for (const [id, c] of Object.entries(want)) {
              const cell = document.querySelector(`tr[data-item-id="${CSS.escape(id)}"] td[data-col="counter"]`);
              if (!cell || num(cell.textContent) !== c) return false;
            }
            return num(document.getElementById('total-counter').textContent) === counter;
          },
          { want: Object.fromEntries(items.map((i) => [i.item_id, expected[i.item_id]])), counter: totalCounter },
          { timeout: LIVE_WITHIN_MS, polling: 50 },
        );
        const took = Date.now() - posted;
        assert.ok(took <= LIVE_WITHIN_MS, `purchase ${n + 1} showed after ${took} ms`);
        t.diagnostic(`purchase ${n + 1} on the page after ${took} ms`);
        const still = await page.evaluate(() => ({
          marker: window.__hermesMarker,
          navigations: performance.getEntriesByType('navigation').length,
        }));
        assert.equal(still.marker, marker, 'the page was reloaded');
        assert.equal(still.navigations, 1);
      }
      assert.equal(NUMBER(await page.textContent('#total-revenue')), totalRevenue);
      assert.equal(NUMBER(await page.textContent('#kpi-counter')), totalCounter);
      assert.equal(await page.getAttribute('body', 'data-state'), 'items');

      // The table lists every item, highest counter first.
      const rows = await page.$$eval('#rows tr', (trs) =>
        trs.map((tr) => ({
          id: tr.getAttribute('data-item-id'),
          name: tr.querySelector('[data-col="item_name"]').textContent,
          counter: Number(tr.querySelector('[data-col="counter"]').textContent.replace(/[^0-9.-]/g, '')),
        })),
      );
      for (const [id, c] of Object.entries(expected)) {
        const row = rows.find((r) => r.id === id);
        assert.ok(row, `row ${id}`);
        assert.equal(row.counter, c);
        assert.equal(row.name, PRODUCTS[id.slice(0, 7)].item_name);
      }
      for (let i = 1; i < rows.length; i++) assert.ok(rows[i - 1].counter >= rows[i].counter, 'sorted');

      // The chart: at most 10 bars, the top item first.
      const bars = await page.$$eval('#chart .bar', (bs) => bs.map((b) => b.getAttribute('data-item-id')));
      assert.ok(bars.length > 0 && bars.length <= 10, `${bars.length} bars`);
      assert.equal(bars[0], rows[0].id);
      assert.match(await page.textContent('#status'), /Live/);

      await page.waitForTimeout(1800); // let the bars, numbers and row highlights settle
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT });
      assert.deepEqual(problems, []);
    });

    await t.test('two currencies show side by side, never summed', async () => {
      const before = await readItems();
      const dkk = (before.totals.revenue || {}).DKK || 0;
      const eur = ((before.totals.revenue || {}).EUR || 0) + 2 * 25;
      const id = `EUR-001${suffix}`;
      await post([
        {
          event_name: 'purchase',
          transaction_id: `T-EUR${suffix}`,
          currency: 'EUR',
          items: [{ item_id: id, item_name: 'Euro scarf', price: 25, quantity: 2 }],
        },
      ]);
      await page.waitForSelector('#kpi-revenue .amount[data-currency="EUR"]', { timeout: LIVE_WITHIN_MS });
      const kpi = await page.$$eval('#kpi-revenue .amount', (spans) =>
        spans.map((s) => [s.getAttribute('data-currency'), s.textContent]),
      );
      assert.deepEqual(kpi.map(([c]) => c), ['DKK', 'EUR'], JSON.stringify(kpi));
      assert.equal(NUMBER(kpi[0][1]), dkk, 'DKK unchanged by a EUR sale');
      assert.equal(NUMBER(kpi[1][1]), eur);
      assert.match(kpi[1][1], /€/);
      // The totals row: one figure per currency too.
      const total = await page.$$eval('#total-revenue .amount', (spans) =>
        spans.map((s) => [s.getAttribute('data-currency'), s.textContent]),
      );
      assert.deepEqual(total.map(([c]) => c), ['DKK', 'EUR']);
      assert.equal(NUMBER(total[1][1]), eur);
      // The row of the EUR item names its currency.
      const cell = await page.textContent(`tr[data-item-id="${id}"] td[data-col="revenue"]`);
      assert.match(cell, /€/);
      assert.equal(NUMBER(cell), 50);
      // The chart still ranks by units, and can rank by revenue within one currency.
      const buttons = await page.$$eval('.segmented button', (bs) => bs.map((b) => b.textContent));
      assert.deepEqual(buttons, ['Units', 'DKK', 'EUR']);
      await page.click('.segmented button[data-metric="revenue:EUR"]');
      const top = await page.$eval('#chart .bar', (b) => b.getAttribute('data-item-id'));
      assert.equal(top, id, 'the only EUR item leads the EUR ranking');
      await page.click('.segmented button[data-metric="counter"]');
      await page.waitForTimeout(600);
      await page.screenshot({ path: join(shots, 'currencies-1280.png') });
      assert.deepEqual(problems, []);
    });

    await t.test('hermes dev shows the pipeline health', async () => {
      // An event that fails the schema, beside the purchases sent above.
      const r = await fetch(INGEST, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(TOKEN ? { authorization: `Bearer ${TOKEN}` } : {}) },
        body: JSON.stringify([{ event_name: 7 }]),
      });
      assert.equal(r.status, 422);
      await page.waitForSelector('#health:not([hidden]) tr[data-event-name="purchase"]', { timeout: 5000 });
      await page.waitForSelector('#health-rejected tr[data-code="type"]', { timeout: 5000 });
      const purchases = await page.$eval('tr[data-event-name="purchase"]', (tr) => tr.title);
      assert.ok(parseInt(purchases, 10) >= PURCHASES.length, purchases);
      assert.equal(NUMBER(await page.textContent('#health-rejected tr[data-code="type"] td.num')), 1);
      // The built-in sample keeps it in the quarantine too: one bad row, reason schema.
      await page.waitForSelector('#health-quarantined tr[data-reason="schema"]', { timeout: 5000 });
      assert.equal(NUMBER(await page.textContent('#health-quarantined tr[data-reason="schema"] td.num')), 1);
      assert.equal(NUMBER(await page.textContent('#health-dead')), 0);
      await page.$eval('#health', (el) => el.scrollIntoView());
      await page.screenshot({ path: join(shots, 'health-1280.png') });
      assert.deepEqual(problems, []);
    });

    await t.test('past 100 items the page shows the top ones and how many there are', async () => {
      const before = await readItems();
      const have = before.totals.items;
      // Past the stream's default limit (100 items), whatever the store held.
      const extra = Math.max(0, 100 - have) + 7;
      const items = Array.from({ length: extra }, (_, i) => ({
        item_id: `MANY-${String(i).padStart(3, '0')}${suffix}`,
        item_name: `Many ${i}`,
        price: 1,
        quantity: 1,
      }));
      await post([{ event_name: 'purchase', transaction_id: `T-MANY${suffix}`, currency: 'DKK', items }]);
      const total = have + extra;
      await page.waitForFunction(
        (n) => document.getElementById('table-count').getAttribute('data-items') === String(n),
        total,
        { timeout: 5000, polling: 50 },
      );
      const rows = await page.$$eval('#rows tr', (trs) => trs.map((tr) => tr.getAttribute('data-item-id')));
      assert.equal(rows.length, 100, 'the top 100 rows, not all');
      assert.equal(await page.textContent('#table-count'), `showing 100 of ${total} items`);
      assert.equal(await page.textContent('#table-title'), 'Top items');
      assert.equal(NUMBER(await page.textContent('#kpi-items')), total);
      assert.match(await page.textContent('#total-items'), new RegExp(`\\(${total} items\\)`));
      // The rows are the API's top items, in its order.
      const r = await fetch(`${apiUrl(DASHBOARD)}?limit=100`, { cache: 'no-store' });
      const top = (await r.json()).items.map((i) => i.item_id);
      assert.deepEqual(rows, top);
      assert.deepEqual(problems, []);
    });

    await t.test('the trailing-slash URL serves the same page', async () => {
      const u = new URL(DASHBOARD);
      u.pathname = u.pathname.endsWith('/') ? u.pathname.replace(/\/+$/, '') || '/' : u.pathname + '/';
      const p = await desktop.newPage();
      const problems = watch(p);
      const r = await p.goto(u.toString());
      assert.equal(r.status(), 200, `${u}: HTTP ${r.status()}`);
      await p.waitForSelector('body[data-state="items"]', { timeout: 5000 });
      await p.waitForSelector('#status[data-state="live"]', { timeout: 5000 });
      assert.deepEqual(problems, []);
      await p.close();
    });

    await t.test('readable on a phone', async () => {
      const phone = await browser.newContext({
        viewport: { width: 390, height: 844 },
        deviceScaleFactor: 2,
        isMobile: true,
        hasTouch: true,
        locale: 'en-US',
        timezoneId: 'UTC',
      });
      const p = await phone.newPage();
      const problems = watch(p);
      await p.goto(DASHBOARD);
      await p.waitForSelector('body[data-state="items"]', { timeout: 5000 });
      await p.waitForTimeout(600);
      await assertNoHorizontalOverflow(p, 'items at 390 px');
      // The table scrolls inside its card instead.
      const wrap = await p.$eval('.table-wrap', (w) => ({ scroll: w.scrollWidth, client: w.clientWidth }));
      assert.ok(wrap.scroll > wrap.client, `the table should scroll sideways at 390 px: ${JSON.stringify(wrap)}`);
      await p.screenshot({ path: join(shots, 'items-390.png'), fullPage: true });
      assert.deepEqual(problems, []);
      await phone.close();
    });
  } finally {
    await browser.close();
  }
});
