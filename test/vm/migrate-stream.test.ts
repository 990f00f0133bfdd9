/**
 * The live-migration stream (vm/migrate/stream.ts) over a real loopback connection: frames arrive whole and
 * checked however TCP splits them, a damaged or oversized frame ends the stream with one line, an Error frame
 * from the peer becomes the reader's error, and writing to a connection that is gone fails at once (it once
 * waited forever for a 'close' that had already been emitted).
 */
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import { BufferPool, Frame, FrameReader, FrameWriter } from '../../src/vm/migrate/stream.js';

async function pair(): Promise<{ a: Socket; b: Socket; close(): void }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const a = connect({ host: '127.0.0.1', port });
  await new Promise<void>((r) => a.once('connect', () => r()));
  const b = await accepted;
  return { a, b, close: () => { a.destroy(); b.destroy(); server.close(); } };
}

function rawFrame(type: number, payload: Buffer, sum = crc32(payload)): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt32LE(type, 0);
  head.writeUInt32LE(payload.length, 4);
  head.writeUInt32LE(sum, 8);
  return Buffer.concat([head, payload]);
}

test('frames arrive whole and in order, JSON and binary, however the bytes are split', async () => {
  const { a, b, close } = await pair();
  try {
    const w = new FrameWriter(a), r = new FrameReader(b, 'the peer');
    const big = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < big.length; i++) big[i] = (i * 131) & 0xff;
    await w.send(Frame.Hello, { magic: 'x', n: 1 });
    await w.send(Frame.Pages, big);
    // A frame dribbled a byte at a time.
    for (const byte of rawFrame(Frame.Round, Buffer.from('{"round":7}'))) a.write(Buffer.of(byte));
    assert.deepEqual(await r.json(Frame.Hello), { magic: 'x', n: 1 });
    const f = await r.next();
    assert.equal(f.type, Frame.Pages);
    assert.ok(f.payload.equals(big));
    assert.deepEqual(await r.json(Frame.Round), { round: 7 });
    assert.equal(r.bytes, w.bytes + 12 + 11);
  } finally { close(); }
});

test('a frame whose checksum does not match ends the stream: one line naming the peer', async () => {
  const { a, b, close } = await pair();
  try {
    const r = new FrameReader(b, 'the source 10.0.0.1');
    a.write(rawFrame(Frame.Pages, Buffer.from('pages'), 12345));
    await assert.rejects(r.next(), /^BonsaiError: the stream from the source 10\.0\.0\.1 is damaged \(a frame's checksum does not match\)$/);
  } finally { close(); }
});

test('an oversized frame (not a Bonsai stream) is refused before its payload is awaited', async () => {
  const { a, b, close } = await pair();
  try {
    const r = new FrameReader(b, 'the peer');
    a.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await assert.rejects(r.next(), /not a Bonsai migration stream/);
  } finally { close(); }
});

test('an Error frame from the peer becomes the reader\'s error; a frame of the wrong type is named', async () => {
  const { a, b, close } = await pair();
  try {
    const w = new FrameWriter(a), r = new FrameReader(b, 'the destination');
    await w.send(Frame.Ready, {});
    await w.send(Frame.Error, { message: 'disk full' });
    await assert.rejects(r.json(Frame.Accept), /the destination sent frame 10 where 3 was due/);
    await assert.rejects(r.next(), /^BonsaiError: the destination: disk full$/);
  } finally { close(); }
});

test('the peer\'s Error frame is known at once, before it is read in turn, and a damaged one is said so', async () => {
  const { a, b, close } = await pair();
  try {
    const r = new FrameReader(b, 'the destination');
    assert.equal(r.peerError(), null);
    a.write(rawFrame(Frame.Pages, Buffer.alloc(16)));
    a.write(rawFrame(Frame.Error, Buffer.from('{"message":"disk full"')));
    for (let i = 0; i < 100 && r.peerError() === null; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(r.peerError()?.message, 'the destination: failed (its message was damaged)');
    assert.equal((await r.next()).type, Frame.Pages);
    await assert.rejects(r.next(), /^BonsaiError: the destination: failed \(its message was damaged\)$/);
  } finally { close(); }
});

test('the peer closing ends a waiting reader; writing to a connection that is gone fails instead of hanging', async () => {
  const { a, b, close } = await pair();
  try {
    const r = new FrameReader(a, 'the destination');
    const waiting = r.next();
    b.destroy();
    await assert.rejects(waiting, /the destination closed the connection/);
    const w = new FrameWriter(a);
    // Fill the socket until it pushes back, then the peer is gone: every send must settle.
    const big = Buffer.alloc(8 * 1024 * 1024);
    const sends = [w.send(Frame.Pages, big), w.send(Frame.Pages, big)];
    const settled = await Promise.race([Promise.allSettled(sends).then(() => 'settled'), new Promise((res) => setTimeout(() => res('hung'), 5000))]);
    assert.equal(settled, 'settled');
    a.destroy();
    await assert.rejects(w.send(Frame.Round, { round: 1 }), /the connection closed/);
  } finally { close(); }
});

test('large payloads go into pooled buffers: one given back is used again, one kept is never overwritten', async () => {
  const { a, b, close } = await pair();
  try {
    const w = new FrameWriter(a), r = new FrameReader(b, 'the peer');
    const frame = (seed: number): Buffer => Buffer.alloc(1 << 20, seed);
    for (const seed of [1, 2, 3]) await w.send(Frame.Pages, frame(seed));
    const first = (await r.next()).payload;
    const second = (await r.next()).payload;
    assert.notEqual(first.buffer, second.buffer); // both still held: two buffers
    r.recycle(second);
    const third = (await r.next()).payload;
    assert.ok(third.equals(frame(3)));
    assert.ok(first.equals(frame(1)), 'a payload not given back keeps its bytes');
    let written = false;
    await w.send(Frame.Pages, frame(4), () => { written = true; });
    const fourth = (await r.next()).payload;
    assert.equal(fourth.buffer, second.buffer, 'the buffer given back holds the next frame');
    assert.ok(fourth.equals(frame(4)));
    assert.ok(written, 'the writer says when the socket is done with a payload');
  } finally {
    close();
  }
});

test('a buffer pool hands out what was given back, whole buffers of its size only, and keeps a few', () => {
  const pool = new BufferPool(4096, 2);
  const x = pool.take(100);
  assert.equal(x.length, 100);
  pool.give(x);
  const y = pool.take(4096);
  assert.equal(y.buffer, x.buffer);
  pool.give(Buffer.allocUnsafeSlow(100)); // another size: left to the collector
  pool.give(Buffer.allocUnsafeSlow(8192).subarray(0, 4096));
  const z = pool.take(10);
  assert.equal(z.buffer.byteLength, 4096);
  assert.notEqual(z.buffer, y.buffer);
  const three = [pool.take(1), pool.take(1), pool.take(1)];
  for (const b of three) pool.give(b);
  const again = [pool.take(1), pool.take(1), pool.take(1)];
  assert.equal(again.filter((b) => three.some((t) => t.buffer === b.buffer)).length, 2, 'two kept, the third left');
});
