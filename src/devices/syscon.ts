/**
 * SiFive test finisher ("sifive,test1", QEMU virt at 0x100000): a write to offset 0 whose low 16 bits are
 * a command. Linux reaches it through syscon-poweroff/syscon-reboot, OpenSBI through its system reset
 * driver. It has no state: the callbacks tell the board what the guest asked for.
 */
import type { MmioDevice } from './mmio.js';
import type { State, Stateful } from './stateful.js';

export const FINISHER_FAIL = 0x3333;
export const FINISHER_PASS = 0x5555;
export const FINISHER_RESET = 0x7777;

export class Syscon implements MmioDevice, Stateful {
  constructor(
    private readonly onPowerOff: () => void,
    private readonly onReset: () => void,
    private readonly onFail: (code: number) => void,
  ) {}

  read(_offset: number, _size: number): number {
    return 0;
  }

  write(offset: number, size: number, value: number): void {
    // QEMU accepts 16- and 32-bit writes; a 16-bit one carries no exit code.
    if (offset !== 0 || size < 2) return;
    const command = value & 0xffff;
    if (command === FINISHER_PASS) this.onPowerOff();
    else if (command === FINISHER_RESET) this.onReset();
    else if (command === FINISHER_FAIL) this.onFail(size === 4 ? (value >>> 16) & 0xffff : 0);
  }

  save(): State {
    return null;
  }

  restore(s: State): void {
    if (s !== null) throw new Error('syscon state: expected null');
  }
}
