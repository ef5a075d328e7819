// The preview inspector in a real browser: Debian's chromium driven by playwright-core.
//
//   HERMES_PREVIEW_URL              the inspector (under `hermes dev`: http://127.0.0.1:8080/dashboard/preview)
//   HERMES_PREVIEW_BEARER_TOKEN     exported to the shell that runs the copied curl (optional)
//   HERMES_CHROMIUM                 the browser (default /usr/bin/chromium)
//   HERMES_SCREENSHOT               where the screenshot goes (default docs/preview-inspector.png)
//
// The pipeline must have two destinations: `items-realtime` (require items) and `ads` (purchases,
// with `quantity_int = "items.0.quantity"` and `email = "user_data.email_address"` in its mapping),
// as tests/integration/browser.rs starts it.
//
// It checks: a session opens and the page shows the header and a curl; the curl copied with the
// page's button, its body replaced by three events (one with a schema error, one whose `ads` tag
// fails), sent through a real shell, appears on the open page within 2 s with status 206, the
// error's path, each tag fired or not and why, the failure, payloads with user_data masked; a
// second request shows above it; nothing is loaded from elsewhere and no script error happens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const INSPECTOR = process.env.HERMES_PREVIEW_URL;
const CHROMIUM = process.env.HERMES_CHROMIUM || '/usr/bin/chromium';
const CI = !['', 'false', '0'].includes(process.env.CI || '');
const SCREENSHOT = process.env.HERMES_SCREENSHOT || join(here, '..', '..', 'docs', 'preview-inspector.png');
const LIVE_WITHIN_MS = 2000;

async function missing() {
  if (!INSPECTOR) return 'set HERMES_PREVIEW_URL (tests/integration/browser.rs does)';
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

const EMAIL = 'jane.doe@example.com';
const EVENTS = [
  {
    event_name: 'purchase', transaction_id: 'T-2001', currency: 'EUR', value: 45,
    user_data: { email_address: EMAIL, city: 'Aarhus' },
    items: [{ item_id: 'SKU-1', item_name: 'Merino Socks', price: 15, quantity: 3 }],
  },
  // A schema error: `value` must be a number.
  { event_name: 'purchase', value: 'forty', items: [{ item_id: 'SKU-2' }] },
  // The `ads` tag fails: its quantity_int cannot convert "a few".
  {
    event_name: 'purchase', transaction_id: 'T-2003', currency: 'EUR',
    user_data: { email_address: EMAIL },
    items: [{ item_id: 'SKU-3', price: 9, quantity: 'a few' }],
  },
];

/** Runs a curl command line through a real shell; its output is ingest's JSON answer. */
function run(curl) {
  const out = execFileSync('bash', ['-c', `${curl} --silent --show-error`], {
    env: { ...process.env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return JSON.parse(out);
}

/** The copied curl with its `-d '…'` body replaced. */
function withBody(curl, events) {
  const body = JSON.stringify(events).replace(/'/g, "'\\''");
  const replaced = curl.replace(/-d '[\s\S]*'\s*$/, `-d '${body}'`);
  assert.notEqual(replaced, curl, `no -d body in ${curl}`);
  return replaced;
}

test('the preview inspector in a real browser', { timeout: 120_000 }, async (t) => {
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
  try {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 1000 },
      locale: 'en-US',
      timezoneId: 'UTC',
    });
    const origin = new URL(INSPECTOR).origin;
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    page.on('request', (r) => {
      if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) problems.push(`request elsewhere: ${r.url()}`);
    });

    await page.goto(INSPECTOR);
    await page.waitForSelector('#status[data-state="live"]', { timeout: 5000 });
    assert.ok(await page.isVisible('#empty'), 'the empty state shows before any request');
    const headerLine = await page.textContent('#header-line');
    assert.match(headerLine, /^x-gtm-server-preview: hp1-\d+-[0-9a-f]{64}$/);
    const shown = await page.textContent('#curl');
    assert.match(shown, /^curl -X POST '/);
    assert.ok(shown.includes(`'${headerLine}'`), shown);

    // Copy it with the page's own button, as a user would.
    await page.click('button[data-copy="curl"]');
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    assert.equal(copied, shown);

    const sent = Date.now();
    const answer = run(withBody(copied, EVENTS));
    assert.equal(answer.status, 206, JSON.stringify(answer));
    await page.waitForSelector('details.request[data-status="206"]', { timeout: LIVE_WITHIN_MS });
    const took = Date.now() - sent;
    t.diagnostic(`the request was on the page ${took} ms after curl was started`);
    assert.ok(took <= LIVE_WITHIN_MS + 1000, `shown after ${took} ms`);

    const req = page.locator('details.request[data-status="206"]');
    assert.equal(await req.getAttribute('data-status'), '206');
    assert.equal((await req.locator('summary .status').textContent()).trim(), '206');
    // Event 1: its schema error, with the path.
    const ev1 = req.locator('.event[data-index="1"]');
    assert.equal(await ev1.locator('.error .path').first().textContent(), 'events[1].value');
    assert.match(await ev1.locator('tr.destination[data-name="ads"] .reason').textContent(), /schema/);
    // Event 0: both tags fired, with message ids, masked payloads.
    const ev0 = req.locator('.event[data-index="0"]');
    for (const name of ['items-realtime', 'ads']) {
      const row = ev0.locator(`tr.destination[data-name="${name}"]`);
      assert.equal(await row.getAttribute('data-triggered'), 'true');
      assert.equal(await row.locator('.reason').textContent(), 'matched');
      assert.match(await row.locator('.result').textContent(), /message \S+/);
    }
    const payload = ev0.locator('tr.destination[data-name="items-realtime"] details.payload');
    await payload.locator('summary').click();
    const payloadText = await payload.locator('pre').textContent();
    assert.match(payloadText, /"email_address": "\*\*\*"/);
    assert.match(payloadText, /"item_id": "SKU-1"/);
    const ads = ev0.locator('tr.destination[data-name="ads"] details.payload');
    await ads.locator('summary').click();
    assert.match(await ads.locator('pre').textContent(), /"email": "\*\*\*"/);
    // Event 2: the ads tag failed, and says why.
    const failed = req.locator('.event[data-index="2"] tr.destination[data-name="ads"]');
    assert.equal(await failed.getAttribute('data-triggered'), 'true');
    assert.match(await failed.locator('.result.failed').textContent(), /quantity/);
    assert.ok(!(await page.content()).includes(EMAIL), 'a user_data value is on the page');

    // A second request shows above the first: newest first.
    run(withBody(copied, [{ event_name: 'page_view', page_location: 'https://shop.example/' }]));
    await page.waitForSelector('details.request[data-status="200"]', { timeout: LIVE_WITHIN_MS });
    const order = await page.$$eval('details.request', (ds) => ds.map((d) => d.dataset.status));
    assert.deepEqual(order, ['200', '206']);
    const reason = await page
      .locator('details.request[data-status="200"] tr.destination[data-name="items-realtime"] .reason')
      .textContent();
    assert.equal(reason, 'required field missing: items');

    // What was opened stays open across live updates: the payloads opened above.
    assert.equal(await payload.getAttribute('open'), '');
    assert.match(await payload.locator('pre').textContent(), /"email_address": "\*\*\*"/);

    // The screenshot: the newest request folded, the 206 one open with a payload shown.
    await page.locator('details.request[data-status="200"] > summary').click();
    await page.locator('details.request[data-status="206"] tr.destination[data-name="ads"] details.payload').first().evaluate((d) => { d.open = false; });
    await page.waitForTimeout(300);
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});
