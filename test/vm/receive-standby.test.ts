/**
 * `bonsai receive` starts the VM's process as soon as it listens (as QEMU's -incoming), in a store that may
 * not exist yet; ended without a VM, that process goes too and leaves no log behind.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, killStore, repoPath, storeProcesses } from '../helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const standbyLogs = (home: string): string[] => (existsSync(home) ? readdirSync(home).filter((f) => f.startsWith('incoming-')) : []);

test('bonsai receive in a fresh store: its VM process waits from the start, and goes with it', async () => {
  const parent = mkdtempSync(join(tmpdir(), 'bonsai-standby-'));
  const home = join(parent, 'not-made-yet');
  try {
    const port = await freePort();
    const recv = spawn(process.execPath, [repoPath('bin', 'bonsai.js'), 'receive', '--listen', String(port)], { env: { ...process.env, BONSAI_HOME: home } });
    let out = '', err = '';
    recv.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    recv.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    const exited = new Promise<void>((r) => recv.on('exit', () => r()));
    for (let i = 0; i < 200 && !/waiting for a VM/.test(out + err); i++) await sleep(50);
    assert.match(out + err, /waiting for a VM on 127\.0\.0\.1:/);
    assert.equal(standbyLogs(home).length, 1, 'the waiting process logs in the store until a VM is named');
    for (let i = 0; i < 100 && storeProcesses(home, / vmm --incoming/).length === 0; i++) await sleep(50);
    assert.equal(storeProcesses(home, / vmm --incoming/).length, 1, 'one VM process waits');
    recv.kill('SIGTERM');
    await exited;
    for (let i = 0; i < 100 && (storeProcesses(home, / vmm --incoming/).length > 0 || standbyLogs(home).length > 0); i++) await sleep(50);
    assert.deepEqual(storeProcesses(home, / vmm --incoming/), [], 'the waiting process ended with receive');
    assert.deepEqual(standbyLogs(home), [], 'and removed its log');
  } finally {
    killStore(home);
    rmSync(parent, { recursive: true, force: true });
  }
});
