/**
 * A throwaway store ($BONSAI_HOME in a temporary folder) and the real `bonsai` command run against it,
 * for the end-to-end tests of persistent VMs. Whatever a test leaves running is killed at the end.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { killStore, repoPath } from '../helpers.js';

export const BIN = repoPath('bin', 'bonsai.js');

export interface Run { status: number; stdout: string; stderr: string }

export interface CliStore {
  home: string;
  bonsai(args: string[], input?: string): Promise<Run>;
  /** Runs bonsai and asserts it succeeded; its stdout. */
  ok(args: string[]): Promise<string>;
  /** Waits for the guest agent (the guest is booting) and returns exec's result. */
  execWhenUp(name: string, argv: string[], limitMs?: number): Promise<Run>;
  /** A shell script in the guest that must succeed; its stdout. */
  guest(name: string, script: string): Promise<string>;
}

export function cliStore(prefix = 'bonsai-e2e-'): CliStore {
  const home = mkdtempSync(join(tmpdir(), prefix));
  after(() => {
    killStore(home);
    rmSync(home, { recursive: true, force: true });
  });
  const bonsai = (args: string[], input?: string): Promise<Run> => new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, BONSAI_HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    p.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
    p.stdin.end(input ?? '');
    p.on('close', (code) => resolve({ status: code ?? -1, stdout, stderr }));
  });
  const ok = async (args: string[]): Promise<string> => {
    const r = await bonsai(args);
    assert.equal(r.status, 0, `bonsai ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const execWhenUp = async (name: string, argv: string[], limitMs = 120_000): Promise<Run> => {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const r = await bonsai(['exec', name, '--', ...argv]);
      if (!/agent is not running/.test(r.stderr)) return r;
      if (Date.now() > deadline) throw new Error(`the agent of ${name} never came up: ${r.stderr}\n${readFileSync(join(home, 'vms', name, 'console.log'), 'latin1').slice(-2000)}`);
      await new Promise((res) => setTimeout(res, 500));
    }
  };
  const guest = async (name: string, script: string): Promise<string> => {
    const r = await execWhenUp(name, ['sh', '-c', script]);
    assert.equal(r.status, 0, `${script}: ${r.stderr}`);
    return r.stdout;
  };
  return { home, bonsai, ok, execWhenUp, guest };
}
