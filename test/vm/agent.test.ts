import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BonsaiError } from '../../src/errors.js';
import { AGENT_MAX_DATA, GuestAgent, type AgentChannel } from '../../src/vm/agent.js';

type Handler = (argv: string[], stdin: Uint8Array, timeoutS: number) => { status: number; stdout?: string; stderr?: string } | 'timeout' | 'silent';

const b64 = (s: string | Uint8Array): string => (s.length === 0 ? '-' : Buffer.from(s).toString('base64'));
const unb64 = (s: string): string => (s === '-' ? '' : Buffer.from(s, 'base64').toString('utf8'));

/** The guest side of docs/agent.md in TypeScript, behind a stand-in for the channel device. */
class FakeGuest implements AgentChannel {
  onData: (bytes: Uint8Array) => void = () => {};
  onOpen: (open: boolean) => void = () => {};
  guestOpen = false;
  /** Lines as the guest parsed them. */
  readonly lines: string[] = [];
  hostname = 'bonsai';
  time = 0;
  poweredOff = false;
  discarded = 0;
  private inBuf = Buffer.alloc(0);
  private stdinWanted = -1;
  private execLine: string[] = [];

  constructor(public handler: Handler = (argv) => ({ status: 0, stdout: argv.join(' ') })) {}

  /** The agent process opens the port and says hello. */
  start(version = 1): void {
    this.guestOpen = true;
    this.onOpen(true);
    this.say(`hello ${version}\n`);
  }
  /** The requests, without the host's hello probes. */
  get seen(): string[] { return this.lines.filter((l) => !/^\d+ hello$/.test(l)); }
  stop(): void { this.guestOpen = false; this.onOpen(false); }
  say(s: string): void { this.onData(Buffer.from(s, 'latin1')); }
  discard(): void { this.discarded++; this.inBuf = Buffer.alloc(0); }

  send(bytes: Uint8Array): void {
    this.inBuf = Buffer.concat([this.inBuf, bytes]);
    for (;;) {
      if (this.stdinWanted >= 0) {
        if (this.inBuf.length < this.stdinWanted) return;
        const stdin = this.inBuf.subarray(0, this.stdinWanted);
        this.inBuf = this.inBuf.subarray(this.stdinWanted);
        this.stdinWanted = -1;
        this.runExec(this.execLine, new Uint8Array(stdin));
        continue;
      }
      const nl = this.inBuf.indexOf(10);
      if (nl < 0) return;
      const line = this.inBuf.subarray(0, nl).toString('latin1');
      this.inBuf = this.inBuf.subarray(nl + 1);
      this.lines.push(line);
      this.request(line.split(' '));
    }
  }

  private reply(s: string): void { setImmediate(() => this.say(`${s}\n`)); }

  private request(w: string[]): void {
    const [id, verb] = w;
    if (verb === 'hello') this.reply(`${id} ok 1`);
    else if (verb === 'exec') {
      this.execLine = w;
      this.stdinWanted = Number(w[3]);
      if (this.stdinWanted === 0) { this.stdinWanted = -1; this.runExec(w, new Uint8Array(0)); }
    } else if (verb === 'poweroff') { this.poweredOff = true; this.reply(`${id} ok`); }
    else if (verb === 'time') { this.time = Number(w[2]); this.reply(`${id} ok`); }
    else if (verb === 'hostname') { this.hostname = w[2]; this.reply(`${id} ok`); }
    else this.reply(`${id} err unknown request ${verb}`);
  }

  private runExec(w: string[], stdin: Uint8Array): void {
    const argv = w.slice(4).map(unb64);
    const r = this.handler(argv, stdin, Number(w[2]));
    if (r === 'silent') return;
    if (r === 'timeout') { this.reply(`${w[0]} err timed out after ${w[2]} s`); return; }
    this.reply(`${w[0]} ok ${r.status} ${b64(r.stdout ?? '')} ${b64(r.stderr ?? '')}`);
  }
}

async function connected(g = new FakeGuest(), agent = new GuestAgent()): Promise<{ agent: GuestAgent; g: FakeGuest }> {
  agent.attach(g);
  g.start();
  assert.equal(await agent.waitConnected(1000), true);
  return { agent, g };
}

test('the agent connects when the guest says hello, and the change is reported', async () => {
  const agent = new GuestAgent();
  const changes: boolean[] = [];
  agent.onConnectedChange = (c) => changes.push(c);
  const g = new FakeGuest();
  agent.attach(g);
  assert.equal(agent.connected, false);
  assert.equal(await agent.waitConnected(20), false);
  const w = agent.waitConnected(1000);
  g.start();
  assert.equal(await w, true);
  assert.equal(agent.connected, true);
  g.stop();
  assert.equal(agent.connected, false);
  assert.deepEqual(changes, [true, false]);
  assert.equal(g.discarded, 1, 'data for the process that went away is dropped');
});

test('exec passes argv word by word (no shell), stdin, and gets status, stdout and stderr back', async () => {
  const tricky = ['printf', '%s\\n', "a b", "'; rm -rf / #", '$(reboot)', '', 'ünï\ncode'];
  let got: string[] = [];
  const { agent, g } = await connected(new FakeGuest((argv, stdin) => {
    if (argv[0] === 'true') return { status: 0 };
    got = argv;
    return { status: 3, stdout: `in:${Buffer.from(stdin).toString()}`, stderr: 'err\n' };
  }));
  const r = await agent.exec(tricky, { stdin: new TextEncoder().encode('some\ninput\x00') });
  assert.deepEqual(got, tricky);
  assert.equal(r.status, 3);
  assert.equal(Buffer.from(r.stdout).toString(), 'in:some\ninput\x00');
  assert.equal(Buffer.from(r.stderr).toString(), 'err\n');
  assert.match(g.seen[0], /^\d+ exec 60 11 [A-Za-z0-9+/=-]+( [A-Za-z0-9+/=-]+)*$/, 'one line, every word base64 or -');
  const empty = await agent.exec(['true']);
  assert.deepEqual([empty.status, empty.stdout.length, empty.stderr.length], [0, 0, 0]);
});

test('several requests in flight are answered in order, each to its own caller', async () => {
  const { agent, g } = await connected();
  const [a, b, c] = await Promise.all([agent.exec(['echo', 'one']), agent.setHostname('vm-2.local'), agent.exec(['echo', 'two'])]);
  assert.equal(Buffer.from(a.stdout).toString(), 'echo one');
  assert.equal(b, undefined);
  assert.equal(Buffer.from(c.stdout).toString(), 'echo two');
  assert.equal(g.hostname, 'vm-2.local');
  await agent.setTime(1_700_000_000_400);
  assert.equal(g.time, 1_700_000_000);
  await agent.poweroff();
  assert.equal(g.poweredOff, true);
});

test('errors are BonsaiError one-liners: not connected, bad input, the guest\'s err, timeouts, the guest gone', async () => {
  const agent = new GuestAgent();
  await assert.rejects(agent.exec(['true']), /guest agent: exec true: the agent is not connected/);
  const g = new FakeGuest((argv) => (argv[0] === 'slow' ? 'timeout' : argv[0] === 'hang' ? 'silent' : { status: 0 }));
  agent.attach(g);
  g.start();
  await agent.waitConnected(1000);
  await assert.rejects(agent.exec([]), BonsaiError);
  await assert.rejects(agent.exec(['a\0b']), /NUL/);
  await assert.rejects(agent.exec(['cat'], { stdin: new Uint8Array(AGENT_MAX_DATA + 1) }), /stdin is/);
  await assert.rejects(agent.setHostname('bad name;reboot'), /not a hostname/);
  await assert.rejects(agent.setHostname('-x'), /not a hostname/);
  await assert.rejects(agent.exec(['slow'], { timeoutMs: 1500 }), /exec slow: timed out after 2 s/);
  const hung = agent.exec(['hang']);
  await new Promise((r) => setImmediate(r));
  agent.detach();
  await assert.rejects(hung, (e: Error) => e instanceof BonsaiError && /exec hang: the guest is gone/.test(e.message) && !e.message.includes('\n'));
  assert.equal(agent.connected, false);
});

test('the host gives up on an agent that never answers', async () => {
  const { agent, g } = await connected(new FakeGuest(() => 'silent'), new GuestAgent({ execGraceMs: 200 }));
  // The guest enforces exec's timeout itself; the host waits that plus a grace for the transfer.
  const t0 = Date.now();
  const p = agent.exec(['x'], { timeoutMs: 100 });
  await assert.rejects(p, /exec x: no answer in 0\.3 s/);
  assert.ok(Date.now() - t0 >= 290);
  // A reply still arriving is not given up on: each chunk buys another grace period.
  const q = agent.exec(['y'], { timeoutMs: 100 });
  await new Promise((r) => setImmediate(r));
  const id = (await new Promise<string>((r) => setImmediate(() => r(g.seen[g.seen.length - 1].split(' ')[0]))));
  g.say(`${id} ok 0 `);
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 100));
    g.say('AAAA');
  }
  g.say(' -\n');
  assert.equal((await q).stdout.length, 18, 'answered after 0.6 s, twice the grace');
});

test('an agent that starts again fails what was in flight; a reply for an unknown id or garbage is ignored', async () => {
  const { agent, g } = await connected(new FakeGuest(() => 'silent'));
  const p = agent.exec(['sleep', '100']);
  await new Promise((r) => setImmediate(r));
  g.say('999 ok 0 - -\nnot a message\n\n42 frob\n');
  g.say('hello 1\n');
  await assert.rejects(p, /the guest agent restarted/);
  assert.equal(agent.connected, true);
  g.say('hello 2\n');
  assert.equal(agent.connected, false, 'a protocol this host does not speak');
});

test('a reply split across writes and a malformed reply', async () => {
  const { agent, g } = await connected(new FakeGuest(() => 'silent'));
  const p = agent.exec(['x']);
  await new Promise((r) => setImmediate(r));
  const id = g.seen[0].split(' ')[0];
  const line = `${id} ok 7 ${b64('out')} ${b64('e')}\n`;
  for (const ch of line) g.say(ch);
  assert.equal((await p).status, 7);
  const q = agent.exec(['y']);
  await new Promise((r) => setImmediate(r));
  g.say(`${g.seen[1].split(' ')[0]} ok 7 !!! -\n`);
  await assert.rejects(q, /exec y: a malformed reply/);
});

test('attaching to a channel whose port is already open (a restored machine) asks the agent for hello again', async () => {
  const g = new FakeGuest();
  g.guestOpen = true;
  const agent = new GuestAgent();
  agent.attach(g);
  assert.match(g.lines[0], /^\d+ hello$/);
  assert.equal(await agent.waitConnected(1000), true);
  assert.equal((await agent.exec(['echo'])).status, 0);
  // Attached first, then the restored device reports the port open: no greeting comes, the probe's answer does.
  const g2 = new FakeGuest();
  const a2 = new GuestAgent();
  a2.attach(g2);
  g2.guestOpen = true;
  g2.onOpen(true);
  assert.equal(await a2.waitConnected(1000), true);
});

test('the usual start (port opened, then the greeting, then the probe\'s answer) fails nothing in flight', async () => {
  const agent = new GuestAgent();
  const g = new FakeGuest();
  agent.attach(g);
  g.guestOpen = true;
  g.onOpen(true);
  g.say('hello 1\n');
  assert.equal(agent.connected, true);
  const r = agent.exec(['echo', 'x']); // sent before the probe's answer arrives
  assert.equal(Buffer.from((await r).stdout).toString(), 'echo x');
});
