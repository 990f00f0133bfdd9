/**
 * TCP throughput between the guest and a host socket, measured the same way on Bonsai (user-mode
 * network) and on QEMU (slirp, `-netdev user`), on the bundled guest:
 *   guest → host: busybox `nc 10.0.2.2 PORT` sends 32 MiB from /dev/zero to a host server on 127.0.0.1,
 *                 timed by the host from the connection to the end of the data;
 *   host → guest: the host connects to a forwarded port (`--forward tcp:P-:5001`, `hostfwd=`) where
 *                 `nc -l -p 5001 > /dev/null` runs, sends 32 MiB and waits for the guest to close.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseNet } from '../src/vm/network.js';
import { runMachine } from '../src/vm/run.js';
import type { Engine } from '../src/machine/riscv/hart.js';
import { freePort } from '../test/helpers.js';
import { Console, startQemu } from './linux.js';

export interface NetTimes { upMiBs: number; downMiBs: number }

const MIB = 32;
const PROMPT = /# (?:\x1b\[6n)?$/;



/** Guest → host: a host server counts bytes; MiB/s from its first byte to the end. */
async function upload(con: Console, at: number): Promise<[number, number]> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const done = new Promise<number>((resolve) => server.on('connection', (s: Socket) => {
    let n = 0;
    let t0 = 0;
    s.on('data', (b: Buffer) => { if (n === 0) t0 = performance.now(); n += b.length; });
    s.on('end', () => { s.end(); resolve(n / (1024 * 1024) / ((performance.now() - t0) / 1000)); });
  }));
  con.write(`dd if=/dev/zero bs=64k count=${MIB * 16} 2>/dev/null | nc 10.0.2.2 ${port}; echo up-done\n`);
  const rate = await done;
  at = await con.until(/\nup-done/, at);
  at = await con.until(PROMPT, at);
  server.close();
  return [rate, at];
}

/** Host → guest through a forward to the guest's port 5001. */
async function download(con: Console, at: number, hostPort: number): Promise<[number, number]> {
  con.write('nc -l -p 5001 > /dev/null; echo down-done\n');
  const chunk = Buffer.alloc(64 * 1024);
  for (let attempt = 0; ; attempt++) {
    await new Promise((r) => setTimeout(r, 500));
    const t0 = performance.now();
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(hostPort, '127.0.0.1');
      let sent = 0, got = false;
      const pump = (): void => {
        while (sent < MIB * 16) {
          sent++;
          if (!s.write(chunk)) { s.once('drain', pump); return; }
        }
        s.end();
      };
      s.on('connect', pump);
      s.on('data', () => { got = true; });
      s.on('error', () => resolve(false));
      s.on('close', () => resolve(sent === MIB * 16 && !got));
    });
    if (ok) {
      const rate = MIB / ((performance.now() - t0) / 1000);
      at = await con.until(/\ndown-done/, at);
      at = await con.until(PROMPT, at);
      return [rate, at];
    }
    if (attempt > 20) throw new Error('the guest never accepted the forwarded connection');
  }
}

async function measure(con: Console, hostPort: number): Promise<NetTimes> {
  let at = await con.until(PROMPT, 0, 600_000);
  // The bundled guest takes its address by DHCP at boot; wait until it is there.
  con.write('until ip -4 addr show eth0 | grep -q 10.0.2.15; do sleep 0.2; done; echo net-up\n');
  at = await con.until(/\nnet-up/, at);
  at = await con.until(PROMPT, at);
  const [upMiBs, at2] = await upload(con, at);
  const [downMiBs] = await download(con, at2, hostPort);
  con.write('poweroff\n');
  return { upMiBs, downMiBs };
}

export async function bonsaiNet(engine: Engine = 'interp'): Promise<NetTimes> {
  const hostPort = await freePort();
  let times: Promise<NetTimes> | null = null;
  let con: Console | null = null;
  const r = await runMachine({
    bios: 'builtin', memoryBytes: 256 * 1024 * 1024, log: () => {}, engine,
    network: { net: parseNet('user'), forwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort, guestPort: 5001 }], switches: [], hostname: 'bonsai' },
    console: (b) => con?.push(Buffer.from(b).toString('latin1')),
    onMachine: (m) => {
      con = new Console((s) => m.input(new TextEncoder().encode(s)));
      times = measure(con, hostPort);
    },
  });
  if (r.reason !== 'poweroff') throw new Error(`Bonsai guest ended with ${r.reason}`);
  return times as unknown as Promise<NetTimes>;
}

export async function qemuNet(): Promise<NetTimes> {
  const hostPort = await freePort();
  const { q, con, exited } = startQemu(['-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${hostPort}-:5001`, '-device', 'virtio-net-device,netdev=n0']);
  try {
    const t = await measure(con, hostPort);
    await exited;
    return t;
  } finally {
    q.kill();
  }
}

/** `node dist/bench/net.js bonsai [interp|jit]`: one measurement in a fresh process, printed as JSON. */
if (process.argv[1]?.endsWith('net.js') && process.argv[2] === 'bonsai') {
  bonsaiNet(process.argv[3] === 'jit' ? 'jit' : 'interp').then((t) => { process.stdout.write(`${JSON.stringify(t)}\n`); }, (e: Error) => { console.error(e.message); process.exit(1); });
}
