/**
 * The host end of the guest's power button (devices/virtio/input.ts): what `bonsai stop` can press when
 * the guest has no Bonsai agent. One PowerButton lives as long as the VM; each boot's device attaches to
 * it and detaches when that machine ends, as the agent channel does with GuestAgent.
 *
 * A press reaches the guest's driver; whether the guest acts on it is the guest's: systemd-logind powers
 * off (HandlePowerKey=poweroff by default), a guest without logind or without a virtio-input driver (the
 * bundled one) ignores it. Nor can the host tell whether anything in the guest listens yet: a press made
 * while a guest is still booting may go unheard, so a caller that sees no power-off presses again or
 * gives up at its timeout.
 */
import type { VirtioPowerButton } from '../devices/virtio/input.js';

/** What PowerButton needs of a device: VirtioPowerButton, or a test's stand-in for one. */
export type PowerButtonDevice = Pick<VirtioPowerButton, 'ready' | 'press'>;

export class PowerButton {
  private device: PowerButtonDevice | null = null;

  attach(device: PowerButtonDevice): void { this.device = device; }

  detach(): void { this.device = null; }

  /** This boot's machine has the button (false before the first boot, between boots, or with no free slot). */
  get attached(): boolean { return this.device !== null; }

  /** The guest's driver has taken the device: a press now reaches it. */
  get ready(): boolean { return this.device?.ready === true; }

  /**
   * Presses and releases the button. Returns whether the press went to a ready driver; when not (no
   * device, its driver not up, or 16 presses the guest has not taken yet), nothing is kept for later: a
   * press meant for now must not power off whatever boots next.
   */
  press(): boolean {
    const d = this.device;
    if (d === null || !d.ready) return false;
    return d.press();
  }
}
