/**
 * The web UI in a real headless Chromium (Debian's chromium, driven by playwright-core): open the page with
 * the token, create a VM from the default template, start it, type into its console and see the guest answer,
 * Ctrl-C, a second viewer, a snapshot, stop. A screenshot of the page is kept (dist/artifacts/web-ui.png).
 * Skips when chromium is not installed (.ci/run installs it where it can).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { repoPath } from '../helpers.js';
import { cliStore } from '../e2e/cli-store.js';
import { serve } from './serve.js';

export const CHROMIUM = process.env.BONSAI_CHROMIUM ?? '/usr/bin/chromium';

const { home, bonsai } = cliStore('bonsai-web-ui-');

/** The text on the page's terminal screen (xterm's DOM renderer: one element per row). */
export const screen = (page: Page): Promise<string> => page.evaluate(() =>
  [...document.querySelectorAll('.xterm-rows > div')].map((d) => d.textContent ?? '').join('\n'));

async function waitScreen(page: Page, re: RegExp, ms: number): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const text = await screen(page);
    if (re.test(text)) return text;
    if (Date.now() > deadline) throw new Error(`the console never showed ${re}; it shows:\n${text}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('the web UI: create, start, a console that types and answers, a snapshot, stop', { timeout: 600_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) { t.skip(`no browser at ${CHROMIUM} (apt-get install chromium, or set BONSAI_CHROMIUM)`); return; }
  const s = await serve(home);
  // A VM left running by a failed run would outlive its store (its process names no store on its command line).
  t.after(async () => { await bonsai(['kill', 'demo']); });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(e.message));

  // The template list held back until the VM is created: a form sent before it came (a slow host) once
  // asked for a template named "null", and no VM row ever appeared.
  let releaseTemplates = (): void => undefined;
  const templatesHeld = new Promise<void>((r) => { releaseTemplates = r; });
  await page.route('**/api/templates', async (route) => { await templatesHeld; await route.continue(); });

  const refused = await page.goto(`${s.base}/`);
  assert.equal(refused?.status(), 401, 'the page without the token is refused');
  const opened = await page.goto(`${s.base}/?token=${s.token}`);
  assert.equal(opened?.status(), 200);
  assert.equal(new URL(page.url()).search, '', 'the token left the address bar');
  await page.locator('#link.up').waitFor({ timeout: 120_000 });

  await page.fill('#create input[name=name]', 'demo');
  await page.selectOption('#create select[name=memory]', '192M');
  await page.click('#create button[type=submit]');
  const row = page.locator('#vms tr[data-vm=demo]');
  await row.waitFor({ timeout: 120_000 });
  assert.equal(await row.locator('td.state').textContent(), 'stopped');
  releaseTemplates();
  await page.locator('#create select[name=template] option[value=default]').waitFor({ state: 'attached', timeout: 120_000 });

  await row.getByRole('button', { name: 'Start' }).click();
  await page.locator('#vms tr[data-vm=demo] td.state-running').waitFor({ timeout: 120_000 });
  await row.getByRole('link', { name: 'demo' }).click();
  await waitScreen(page, /demo:\/root#\s*$/m, 120_000);

  await page.click('#terminal');
  await page.keyboard.type('uname -m\n');
  await waitScreen(page, /^riscv64\s*$/m, 120_000);

  // Ctrl-C reaches the guest's shell: the sleep is interrupted and the next command runs at once.
  await page.keyboard.type('sleep 300\n');
  await new Promise((r) => setTimeout(r, 500));
  await page.keyboard.press('Control+C');
  await waitScreen(page, /sleep 300\s*\n\^C\s*\ndemo:\/root#\s*$/m, 60_000);
  await page.keyboard.type('echo after-$((40+2))\n');
  await waitScreen(page, /^after-42\s*$/m, 60_000);

  // A second viewer of the same console sees what the first one typed.
  const second = await context.newPage();
  await second.goto(`${s.base}/#demo`);
  await waitScreen(second, /demo:\/root#/, 120_000);
  await page.keyboard.type('echo shared-$((6*7))\n');
  await waitScreen(second, /^shared-42\s*$/m, 60_000);
  await second.close();

  await page.fill('#snapshot-create input[name=name]', 'snap1');
  await page.click('#snapshot-create button[type=submit]');
  await page.locator('#snapshots li[data-snapshot=snap1].current').waitFor({ timeout: 120_000 });

  mkdirSync(repoPath('dist', 'artifacts'), { recursive: true });
  await page.screenshot({ path: repoPath('dist', 'artifacts', 'web-ui.png'), fullPage: true });

  await row.getByRole('button', { name: 'Stop' }).click();
  await page.locator('#vms tr[data-vm=demo] td.state-stopped').waitFor({ timeout: 120_000 });
  assert.match(await page.locator('#console-status').textContent() ?? '', /stopped/);
  assert.deepEqual(problems, [], 'no script errors on the page');
});
