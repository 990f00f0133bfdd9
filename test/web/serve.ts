/**
 * `bonsai serve` for the tests: the real command on a throwaway store (cli-store.ts), on a free port;
 * the address and token it prints, and a fetch that carries the token.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { after } from 'node:test';
import { BIN } from '../e2e/cli-store.js';

export interface Served {
  base: string; token: string; proc: ChildProcess;
  /** fetch with the token (unless `headers` sets Authorization itself). */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: unknown; text: string }>;
}

export async function serve(home: string): Promise<Served> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0'], { env: { ...process.env, BONSAI_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  after(() => { proc.kill('SIGTERM'); });
  let out = '', err = '';
  proc.stderr?.on('data', (b: Buffer) => { err += b.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bonsai serve printed no address: ${out}${err}`)), 20_000);
    proc.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /open (http:\/\/\S+\/\?token=[0-9a-f]{64})\n/.exec(out);
      if (m !== null) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`bonsai serve exited (${code}): ${err}`)); });
  });
  const u = new URL(url);
  const base = `${u.protocol}//${u.host}`;
  const token = u.searchParams.get('token') ?? '';
  const call: Served['call'] = async (method, path, body, headers = {}) => {
    const h: Record<string, string> = { Authorization: `Bearer ${token}`, ...headers };
    if (body !== undefined) h['Content-Type'] ??= 'application/json';
    const r = await fetch(`${base}${path}`, { method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await r.text();
    let json: unknown = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, json, text };
  };
  return { base, token, proc, call };
}
