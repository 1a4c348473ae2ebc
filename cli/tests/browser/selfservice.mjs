// The self-service page in a real headless Chromium (Debian's, driven by playwright-core):
// run by cli/tests/selfservice_browser.rs against `curfew serve`, the ARM simulator and the
// test's Functions front door. Opens the owner's page from a signed link, checks that the
// instance named `<script>` is text (no dialog), clicks "Snooze 30 min" on ci-mine's coming stop,
// submits a bad cron in the editor and reads the engine's message, and takes a screenshot.
// Then a lost update in two tabs: A saves an override; B, loaded before A's save, is refused
// with what is stored now and keeps its text; B saving again replaces A's on purpose.
// Prints one JSON line of findings; exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = process.env.PAGE_URL;
const shot = process.env.SCREENSHOT;
const badCron = process.env.BAD_CRON;
const profile = mkdtempSync(join(tmpdir(), 'curfew-chromium-'));

const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  viewport: { width: 1200, height: 900 },
  timeout: 60000,
});
const found = { dialogs: [], errors: [], requests: [] };
let stage = 'open';
try {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(30000);
  page.on('dialog', async (d) => { found.dialogs.push(d.message()); await d.dismiss(); });
  page.on('pageerror', (e) => found.errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') found.errors.push(`${stage}: ${m.text()}`); });
  // Nothing may load from anywhere but the page's own origin (no CDN).
  const origin = new URL(base).origin;
  page.on('request', (r) => { if (!r.url().startsWith(origin)) found.requests.push(r.url()); });

  const answer = await page.goto(base);
  found.status = answer.status();
  found.csp = answer.headers()['content-security-policy'] || '';

  stage = 'loaded';
  // The hostile name is shown as text.
  const evil = page.locator('td.name', { hasText: '<script>' });
  await evil.first().waitFor();
  found.evilText = await evil.first().textContent();

  stage = 'snooze';
  // Snooze ci-mine's coming stop by 30 minutes: the script posts it and shows the answer.
  const mine = page.locator('section.instance', { has: page.locator('h2', { hasText: /^ci-mine$/ }) });
  const stop = mine.locator('ul.stops li').first();
  await stop.getByRole('button', { name: 'Snooze 30 min' }).click();
  await stop.locator('.result', { hasText: 'Recorded' }).waitFor();
  found.snooze = (await stop.locator('.result').textContent()).trim();

  stage = 'editor';
  // A bad cron in the editor: the page comes back with the engine's message.
  await mine.locator('textarea[name=schedules]').fill(badCron);
  await Promise.all([
    page.waitForNavigation(),
    mine.getByRole('button', { name: 'Save override' }).click(),
  ]);
  const notice = page.locator('#notice');
  await notice.waitFor();
  found.notice = (await notice.textContent()).trim();
  // After the reload the stop shows the snooze.
  found.stopStatus = (await page.locator('section.instance', { has: page.locator('h2', { hasText: /^ci-mine$/ }) })
    .locator('ul.stops li .status').first().textContent()).trim();
  found.evilStillText = await page.locator('td.name', { hasText: '<script>' }).count();
  stage = 'screenshot';
  // caret 'initial': Playwright would otherwise inject a style to hide the caret (refused by the CSP).
  await page.screenshot({ path: shot, fullPage: true, caret: 'initial' });

  stage = 'lost-update';
  const tabB = await context.newPage();
  tabB.setDefaultTimeout(30000);
  tabB.on('pageerror', (e) => found.errors.push(`tab B: ${e}`));
  tabB.on('console', (m) => { if (m.type() === 'error') found.errors.push(`tab B ${stage}: ${m.text()}`); });
  await page.goto(base);
  await tabB.goto(base);
  const editorOf = (p) => p.locator('section.instance', { has: p.locator('h2', { hasText: /^ci-mine$/ }) });
  const save = async (p, text) => {
    if (text !== undefined) await editorOf(p).locator('textarea[name=schedules]').fill(text);
    await Promise.all([
      p.waitForNavigation(),
      editorOf(p).getByRole('button', { name: 'Save override' }).click(),
    ]);
    return (await p.locator('#notice').textContent()).trim();
  };
  found.firstSave = await save(page, process.env.FIRST_OVERRIDE);
  found.staleSave = await save(tabB, process.env.SECOND_OVERRIDE);
  found.keptText = await editorOf(tabB).locator('textarea[name=schedules]').inputValue();
  found.secondSave = await save(tabB);
} catch (e) {
  found.failure = String(e && e.stack || e);
} finally {
  await context.close();
}
console.log(JSON.stringify(found));
process.exit(found.failure ? 1 : 0);
