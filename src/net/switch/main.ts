/**
 * The switch daemon's process: `node main.js NAME`. The first member of a switch starts it detached,
 * with no terminal, so it writes its few lines to switch-NAME.log in the switch folder.
 *
 * Exits 0 when another daemon already serves NAME (it lost a start-up race, which is fine), when it
 * has been idle long enough, or on SIGTERM/SIGINT/SIGHUP; 1 when it cannot start.
 * BONSAI_SWITCH_IDLE_MS overrides the idle time (tests use a short one).
 */
import { appendFileSync, statSync, writeFileSync } from 'node:fs';
import { SwitchAlreadyRunning, SwitchDaemon } from './daemon.js';
import { switchPaths } from './paths.js';
import { SegmentNetwork } from './segment.js';

/** The log is for a person looking into a problem; it never grows past this. */
const MAX_LOG = 1024 * 1024;

async function main(): Promise<number> {
  const name = process.argv[2] ?? '';
  let logPath: string | null = null;
  try {
    logPath = switchPaths(name).log;
  } catch (e) {
    process.stderr.write(`bonsai switch: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const logFile = logPath;
  const log = (line: string): void => {
    try {
      let size = 0;
      try { size = statSync(logFile).size; } catch { /* not there yet */ }
      if (size > MAX_LOG) writeFileSync(logFile, '', { mode: 0o600 });
      appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`, { mode: 0o600 });
    } catch { /* a log that cannot be written is not worth dying for */ }
  };
  const idle = process.env.BONSAI_SWITCH_IDLE_MS;
  const idleMs = idle !== undefined && /^\d{1,9}$/.test(idle) ? Number(idle) : undefined;

  let daemon: SwitchDaemon;
  try {
    // The member that started us made the folder. If it is gone, the switch was cleaned away while
    // this process was starting: recreating it would only leave litter.
    daemon = await SwitchDaemon.start(name, { log, idleMs, createDir: false, services: new SegmentNetwork() });
  } catch (e) {
    if (e instanceof SwitchAlreadyRunning) return 0;
    log(`switch ${name}: cannot start: ${e instanceof Error ? e.message : String(e)}`);
    process.stderr.write(`bonsai switch: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(sig, () => {
      log(`switch ${name}: ${sig}`);
      void daemon.close();
    });
  }
  process.on('uncaughtException', (e) => {
    // The socket file is left behind; the next member finds it dead and a new daemon replaces it.
    log(`switch ${name}: crashed: ${e.stack ?? e.message}`);
    process.exit(1);
  });
  await daemon.closed;
  return 0;
}

// Exit outright: once closed, nothing is left worth waiting for.
process.exit(await main());
