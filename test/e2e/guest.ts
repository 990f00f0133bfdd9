/**
 * Driving a guest from a test: boot it in-process, wait for text on its console, type into it.
 * The waits have generous time limits only so a broken guest fails the test instead of hanging CI.
 */
import type { Machine } from '../../src/machine/machine.js';
import { runMachine, type RunOptions, type RunResult } from '../../src/vm/run.js';

export class GuestSession {
  output = '';
  machine: Machine | null = null;
  readonly done: Promise<RunResult>;
  private waiters: (() => void)[] = [];
  private mark = 0;

  constructor(opts: Partial<RunOptions>) {
    this.done = runMachine({
      bios: 'builtin', memoryBytes: 256 * 1024 * 1024, log: () => {}, ...opts,
      console: (bytes) => {
        this.output += Buffer.from(bytes).toString('latin1');
        for (const w of this.waiters.splice(0)) w();
      },
      onMachine: (m) => { this.machine = m; },
    });
  }

  /** Resolves when `pattern` appears in output after the last match; rejects after `limitMs`. */
  async expect(pattern: string | RegExp, limitMs = 120_000): Promise<string> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const rest = this.output.slice(this.mark);
      const m = typeof pattern === 'string' ? (rest.includes(pattern) ? { index: rest.indexOf(pattern), 0: pattern } : null) : pattern.exec(rest);
      if (m !== null && m.index !== undefined) {
        this.mark += m.index + m[0].length;
        return rest.slice(0, m.index + m[0].length);
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(pattern)}; console so far:\n${this.output.slice(-2000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  send(text: string): void {
    this.machine?.input(new TextEncoder().encode(text));
  }

  /** Runs a shell command and returns what it printed (between two markers it echoes around it). */
  async run(command: string, prompt: RegExp = /# (?:\x1b\[6n)?$/): Promise<string> {
    const id = Math.random().toString(36).slice(2, 8);
    this.send(`echo __begin_${id}; ${command}; printf '\\n__end_${id}\\n'\n`);
    // Printed markers start a line; in the echoed command line they follow "echo ".
    await this.expect(new RegExp(`\\n__begin_${id}(?=\\r?\\n)`));
    const text = await this.expect(new RegExp(`\\n__end_${id}\\r?\\n`));
    await this.expect(prompt);
    // The end marker follows a newline of its own, so output without a final newline still ends a line.
    return text.replace(/\r\n/g, '\n').replace(new RegExp(`^\\n`), '').replace(new RegExp(`\\n?\\n__end_${id}\\n$`), '');
  }
}
