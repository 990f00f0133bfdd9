import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { VirtioAgentChannel } from '../../src/devices/virtio/agent-channel.js';
import { VirtioPowerButton } from '../../src/devices/virtio/input.js';
import { VirtioRng } from '../../src/devices/virtio/rng.js';
import { VIRT } from '../../src/machine/layout.js';
import { openDevices, type ShareSpec } from '../../src/vm/devices.js';
import { PowerButton, type PowerButtonDevice } from '../../src/vm/power-button.js';
import { Driver, F_VERSION_1, rig } from '../devices/virtio/driver.js';

test('a press reaches the device only while one is attached and its driver is ready', () => {
  const button = new PowerButton();
  assert.equal(button.attached, false);
  assert.equal(button.press(), false, 'before the first boot');
  const r = rig(new VirtioPowerButton());
  button.attach(r.dev);
  assert.equal(button.attached, true);
  assert.equal(button.ready, false);
  assert.equal(button.press(), false, 'the guest has not taken the device yet');
  assert.equal(r.dev.queued, 0, 'and nothing is kept for later');
  const drv = new Driver(r.mmio, r.ram);
  const [evq] = drv.start([F_VERSION_1], 2);
  assert.equal(button.ready, true);
  assert.equal(button.press(), true);
  for (let i = 0; i < 8; i++) evq.add({ in: [8] });
  evq.kick();
  assert.equal(evq.takeUsed().length, 4);
  button.detach();
  assert.equal(button.attached, false);
  assert.equal(button.press(), false, 'between boots');
});

test('a press the device cannot queue is reported as not made', () => {
  const calls: string[] = [];
  const full: PowerButtonDevice = { ready: true, press: () => { calls.push('press'); return false; } };
  const button = new PowerButton();
  button.attach(full);
  assert.equal(button.press(), false);
  assert.deepEqual(calls, ['press']);
});

test('the power button takes the slot after every other device, and none when all are taken', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bonsai-button-'));
  const shares = (n: number): ShareSpec[] => Array.from({ length: n }, (_, i) => ({ dir, tag: `t${i}`, readOnly: true }));
  const a = await openDevices([], shares(1), null, [], { agentChannel: true, powerButton: true });
  try {
    assert.deepEqual(a.devices.map((d) => d.name), ['virtio-9p', 'virtio-rng', 'virtio-agent-channel', 'virtio-input']);
    assert.ok(a.devices[3] instanceof VirtioPowerButton && a.powerButton === a.devices[3]);
    assert.ok(a.devices[1] instanceof VirtioRng && a.devices[2] instanceof VirtioAgentChannel);
  } finally { await a.close(); }
  const b = await openDevices([], shares(1), null, [], { agentChannel: true });
  try {
    assert.equal(b.powerButton, null, 'not asked for');
    assert.equal(b.devices.length, 3);
  } finally { await b.close(); }
  // Every slot taken by what existed before the button: the machine still gets all of them, and no button.
  const full = await openDevices([], shares(VIRT.virtioSlots - 2), null, [], { agentChannel: true, powerButton: true });
  try {
    assert.equal(full.devices.length, VIRT.virtioSlots);
    assert.equal(full.powerButton, null);
    assert.equal(full.devices[VIRT.virtioSlots - 1].name, 'virtio-agent-channel');
  } finally { await full.close(); }
  // Every slot taken by the user's own devices (shares + rng): neither the agent channel nor the button.
  const mine = await openDevices([], shares(VIRT.virtioSlots - 1), null, [], { agentChannel: true, powerButton: true });
  try {
    assert.equal(mine.devices.length, VIRT.virtioSlots);
    assert.equal(mine.agentChannel, null);
    assert.equal(mine.powerButton, null);
  } finally { await mine.close(); }
  const last = await openDevices([], shares(VIRT.virtioSlots - 3), null, [], { agentChannel: true, powerButton: true });
  try {
    assert.equal(last.devices.length, VIRT.virtioSlots);
    assert.equal(last.devices[VIRT.virtioSlots - 1], last.powerButton);
  } finally { await last.close(); }
});
