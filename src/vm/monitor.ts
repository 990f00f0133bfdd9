/** The monitor's commands (Ctrl-A C): a window onto the running machine. */
import type { Machine } from '../machine/machine.js';

const NAMES = ['zero', 'ra', 'sp', 'gp', 'tp', 't0', 't1', 't2', 's0', 's1', 'a0', 'a1', 'a2', 'a3', 'a4', 'a5',
  'a6', 'a7', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 't3', 't4', 't5', 't6'];

const hex64 = (lo: number, hi: number): string => (hi >>> 0).toString(16).padStart(8, '0') + (lo >>> 0).toString(16).padStart(8, '0');

export function monitorCommand(m: Machine, line: string): string {
  const [cmd, arg] = line.split(/\s+/);
  if (cmd === 'help' || cmd === '?') return 'info registers   the hart\'s registers\ninfo machine     memory, instructions retired\nquit             exit Bonsai\n';
  if (cmd === 'info' && (arg === 'registers' || arg === 'r')) {
    const h = m.hart, x = h.x;
    let out = `pc  ${hex64(h.pcLo, h.pcHi)}  priv ${'USHM'[h.priv]}\n`;
    for (let i = 0; i < 32; i++) out += `${NAMES[i].padEnd(4)}${hex64(x[2 * i], x[2 * i + 1])}${i % 4 === 3 ? '\n' : '  '}`;
    return out;
  }
  if (cmd === 'info' && arg === 'machine') {
    return `RAM ${m.ram.size >> 20} MiB at 0x80000000; ${m.instructions} instructions retired\n`;
  }
  return `unknown command '${line}' (try 'help')\n`;
}
