/**
 * `npm run bench:web`: the latency of a key in the console, from the key press to the guest's echo, over
 * 200 keys typed one at a time into the bundled guest's shell, two ways:
 *
 *  - browser: the web UI in headless Chromium (playwright-core). From the keydown event in the page to the
 *    moment xterm.js puts the echo into the page (a MutationObserver on its rows: what the user would see,
 *    save the paint itself).
 *  - terminal: `bonsai console` on a pseudo-terminal (util-linux script). From writing the key to the pty
 *    to its echo coming out of it.
 *
 * Both go the same way from the server on: a control-socket console client of the VM's process.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { repoPath } from '../test/helpers.js';

const BIN = repoPath('bin', 'bonsai.js');
const KEYS = 200;
const CHROMIUM = process.env.BONSAI_CHROMIUM ?? '/usr/bin/chromium';

const home = mkdtempSync(join(tmpdir(), 'bonsai-bench-web-'));
const env = { ...process.env, BONSAI_HOME: home };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function bonsai(args: string[]): { status: number; out: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function stats(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return `median ${at(0.5).toFixed(1)} ms, p99 ${at(0.99).toFixed(1)} ms (min ${s[0].toFixed(1)}, max ${s[s.length - 1].toFixed(1)}; ${s.length} keys)`;
}

/** Keys that the shell echoes as themselves: letters, typed on one line that Ctrl-U clears every 50. */
const key = (i: number): string => String.fromCharCode(97 + (i % 26));

async function terminal(): Promise<number[]> {
  const p = spawn('script', ['-qfec', `${process.execPath} ${BIN} console lat`, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let waiter: (() => void) | null = null;
  p.stdout.on('data', (b: Buffer) => { out += b.toString('latin1'); waiter?.(); });
  await sleep(1500);
  p.stdin.write('\r');
  await sleep(500);
  const times: number[] = [];
  for (let i = 0; i < KEYS; i++) {
    if (i % 50 === 0) { p.stdin.write('\x15'); await sleep(200); }
    const k = key(i);
    const mark = out.length;
    const t0 = performance.now();
    const got = new Promise<void>((resolve) => {
      waiter = () => { if (out.slice(mark).includes(k)) { waiter = null; resolve(); } };
    });
    p.stdin.write(k);
    await Promise.race([got, sleep(5000)]);
    times.push(performance.now() - t0);
  }
  p.stdin.write('\x15\x01d');
  await sleep(500);
  p.kill();
  return times;
}

async function browser(): Promise<number[] | null> {
  if (!existsSync(CHROMIUM)) return null;
  const srv = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise<string>((resolve) => {
      let text = '';
      srv.stdout.on('data', (b: Buffer) => { text += b.toString(); const m = /open (\S+token=\S+)/.exec(text); if (m !== null) resolve(m[1]); });
    });
    const b = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    try {
      const page = await b.newPage();
      await page.goto(url);
      await page.goto(`${new URL(url).origin}/#lat`);
      await page.waitForFunction(() => /lat:\/root#/.test(document.querySelector('.xterm-rows')?.textContent ?? ''), null, { timeout: 60_000 });
      await page.click('#terminal');
      const times: number[] = [];
      for (let i = 0; i < KEYS; i++) {
        if (i % 50 === 0) { await page.keyboard.press('Control+U'); await sleep(200); }
        const k = key(i);
        // Armed before the key: the keydown's time, then the first change of the rows that shows it.
        await page.evaluate((ch) => {
          const w = window as unknown as { echo: Promise<number> };
          const rows = document.querySelector('.xterm-rows') as Element;
          const before = (rows.textContent ?? '').split(ch).length;
          w.echo = new Promise((resolve) => {
            let t0 = 0;
            document.addEventListener('keydown', () => { t0 = performance.now(); }, { capture: true, once: true });
            const mo = new MutationObserver(() => {
              if (t0 !== 0 && (rows.textContent ?? '').split(ch).length > before) { mo.disconnect(); resolve(performance.now() - t0); }
            });
            mo.observe(rows, { subtree: true, childList: true, characterData: true });
            setTimeout(() => { mo.disconnect(); resolve(5000); }, 5000);
          });
        }, k);
        await page.keyboard.press(k);
        times.push(await page.evaluate(() => (window as unknown as { echo: Promise<number> }).echo));
      }
      return times;
    } finally {
      await b.close();
    }
  } finally {
    srv.kill();
  }
}

async function main(): Promise<void> {
  try {
    for (const args of [['create', 'lat', '--ssh-key', 'none', '-m', '192M'], ['start', 'lat']]) {
      const r = bonsai(args);
      if (r.status !== 0) throw new Error(`bonsai ${args.join(' ')}: ${r.out}`);
    }
    for (let i = 0; bonsai(['exec', 'lat', '--', 'true']).status !== 0; i++) {
      if (i > 240) throw new Error('the guest never came up');
      await sleep(500);
    }
    const b = await browser();
    const t = await terminal();
    process.stdout.write(`console key-to-echo latency, ${KEYS} keys into the bundled guest's shell:\n`);
    process.stdout.write(`  browser (web UI, xterm.js, headless Chromium): ${b === null ? `skipped (no browser at ${CHROMIUM})` : stats(b)}\n`);
    process.stdout.write(`  terminal (bonsai console on a pty):            ${stats(t)}\n`);
  } finally {
    bonsai(['kill', 'lat']);
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
