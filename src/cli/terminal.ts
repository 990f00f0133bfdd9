/**
 * The terminal as the guest's console: raw mode while the machine runs (restored on every exit path),
 * and QEMU's Ctrl-A escapes: Ctrl-A X quits, Ctrl-A H lists the escapes, Ctrl-A C toggles a small
 * monitor prompt, Ctrl-A Ctrl-A sends one Ctrl-A. When stdin is not a terminal, bytes pass through unchanged.
 */
export interface TerminalHooks {
  /** Bytes for the guest. */
  input(bytes: Uint8Array): void;
  /** Ctrl-A X, or `quit` at the monitor. */
  quit(): void;
  /** A monitor command line; returns the text to print. */
  monitor(line: string): string | Promise<string>;
  /** Ctrl-A D: leave the console, the VM running (`bonsai console`; `run` has no such escape). */
  detach?(): void;
}

const CTRL_A = 0x01;

export class Terminal {
  private raw = false;
  private escape = false;
  private monitorMode = false;
  private line = '';
  private readonly onData = (chunk: Buffer): void => this.feed(chunk);
  private readonly restoreOnExit = (): void => this.restore();

  constructor(private readonly hooks: TerminalHooks) {}

  start(): void {
    const stdin = process.stdin;
    if (stdin.isTTY) {
      stdin.setRawMode(true);
      this.raw = true;
      process.on('exit', this.restoreOnExit);
    }
    stdin.on('data', this.onData);
    stdin.resume();
  }

  stop(): void {
    process.stdin.off('data', this.onData);
    process.stdin.pause();
    this.restore();
    process.off('exit', this.restoreOnExit);
  }

  /** Puts the terminal back as it was (idempotent; safe from signal and crash handlers). */
  restore(): void {
    if (this.raw && process.stdin.isTTY) process.stdin.setRawMode(false);
    this.raw = false;
  }

  private feed(chunk: Buffer): void {
    if (!this.raw) { this.hooks.input(new Uint8Array(chunk)); return; }
    const pass: number[] = [];
    for (const b of chunk) {
      if (this.monitorMode) { this.monitorByte(b); continue; }
      if (this.escape) {
        this.escape = false;
        const c = String.fromCharCode(b).toLowerCase();
        if (b === CTRL_A) pass.push(CTRL_A);
        else if (c === 'x') { this.flush(pass); this.hooks.quit(); return; }
        else if (c === 'd' && this.hooks.detach !== undefined) { this.flush(pass); this.hooks.detach(); return; }
        else if (c === 'h') {
          this.print(`\r\nC-a h    print this help\r\nC-a x    ${this.hooks.detach === undefined ? 'exit Bonsai' : 'stop the VM at once (bonsai kill)'}\r\n` +
            `${this.hooks.detach === undefined ? '' : 'C-a d    detach: leave the console, the VM running\r\n'}C-a c    switch between console and monitor\r\nC-a C-a  sends C-a\r\n`);
        }
        else if (c === 'c') { this.monitorMode = true; this.print('\r\n(bonsai) '); }
        continue;
      }
      if (b === CTRL_A) { this.escape = true; continue; }
      pass.push(b);
    }
    this.flush(pass);
  }

  private flush(pass: number[]): void {
    if (pass.length > 0) this.hooks.input(Uint8Array.from(pass));
    pass.length = 0;
  }

  private monitorByte(b: number): void {
    if (b === CTRL_A) { this.escape = true; return; }
    if (this.escape) {
      this.escape = false;
      if (String.fromCharCode(b).toLowerCase() === 'c') { this.monitorMode = false; this.line = ''; this.print('\r\n'); return; }
    }
    if (b === 0x0d || b === 0x0a) {
      const line = this.line.trim();
      this.line = '';
      this.print('\r\n');
      if (line === 'quit' || line === 'q') { this.hooks.quit(); return; }
      if (line === '') { this.print('(bonsai) '); return; }
      const out = this.hooks.monitor(line);
      const show = (text: string): void => { this.print(text.replace(/\n/g, '\r\n')); this.print('(bonsai) '); };
      if (typeof out === 'string') show(out);
      else out.then(show, (e: Error) => show(`${e.message}\n`));
    } else if (b === 0x7f || b === 0x08) {
      if (this.line.length > 0) { this.line = this.line.slice(0, -1); this.print('\b \b'); }
    } else if (b >= 0x20 && b < 0x7f) {
      this.line += String.fromCharCode(b);
      this.print(String.fromCharCode(b));
    }
  }

  private print(s: string): void {
    process.stdout.write(s);
  }
}
