/**
 * Machine state files (docs/snapshot-format.md): a header with magic and format version, the machine's
 * configuration and its parts' state as JSON, RAM as a page bitmap and the non-zero pages compressed
 * in independent chunks, and a SHA-256 over all of it. A file is checked whole (length, version,
 * checksum) before anything in it is parsed or returned; a bad one is a one-line BonsaiError.
 *
 * Taking a snapshot of a running guest:
 *   machine.pause(); await machine.quiesce();
 *   const state = machine.save(); const ram = captureRam(machine.ramBytes());
 *   machine.resume();                              // the guest runs on while the copy is compressed
 *   await writeStateFile(path, state, ram);
 * and restoring one, onto a machine built with the same devices but not booted:
 *   const { state, ram } = await readStateFile(path);
 *   machine.restore(state, ram); await machine.run();
 */
import { createHash } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { constants, deflateRaw, inflateRaw } from 'node:zlib';
import { BonsaiError } from '../../errors.js';
import type { MachineState } from '../../machine/machine.js';
import { captureRam, checkRamImage, RAM_PAGE, type RamImage } from '../../machine/ram-image.js';
import { syncDir } from '../store/atomic.js';

export { captureRam, type RamImage };

export const STATE_MAGIC = 'BONSAIMS';
export const STATE_VERSION = 1;
/** Compression of the page data: raw deflate (RFC 1951). */
const COMPRESSION_DEFLATE = 1;
/** Uncompressed bytes per chunk: chunks compress in parallel on the thread pool, and decompress so. */
export const CHUNK_BYTES = 4 * 1024 * 1024;
const HEADER = 48;
const DIGEST = 32;
const TWO32 = 4294967296;

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);

export interface StateFile { state: MachineState; ram: RamImage }

export interface EncodeOptions {
  /** zlib level for the page data; default 1 (the fastest: see docs/snapshot-format.md for the figures). */
  level?: number;
}

/** The file's bytes, as a list of pieces to write in order. */
export async function encodeStateFile(state: MachineState, ram: RamImage, opts: EncodeOptions = {}): Promise<Uint8Array[]> {
  const config = Buffer.from(JSON.stringify(state.config));
  const parts = Buffer.from(JSON.stringify(state.parts));
  const chunks: Promise<Buffer>[] = [];
  for (let at = 0; at < ram.data.length; at += CHUNK_BYTES) {
    const piece = ram.data.subarray(at, Math.min(at + CHUNK_BYTES, ram.data.length));
    chunks.push(deflate(piece, { level: opts.level ?? 1, strategy: constants.Z_DEFAULT_STRATEGY }));
  }
  const compressed = await Promise.all(chunks);
  const table = Buffer.alloc(4 * compressed.length);
  compressed.forEach((c, i) => table.writeUInt32LE(c.length, 4 * i));
  const sizes = [config.length, parts.length, ram.present.length, table.length, ...compressed.map((c) => c.length)];
  const total = HEADER + sizes.reduce((a, b) => a + b, 0) + DIGEST;
  const h = Buffer.alloc(HEADER);
  h.write(STATE_MAGIC, 0, 'latin1');
  h.writeUInt32LE(STATE_VERSION, 8);
  h.writeUInt32LE(COMPRESSION_DEFLATE, 12);
  writeU64(h, 16, total);
  writeU64(h, 24, ram.bytes);
  h.writeUInt32LE(config.length, 32);
  h.writeUInt32LE(parts.length, 36);
  h.writeUInt32LE(compressed.length, 40);
  h.writeUInt32LE(CHUNK_BYTES, 44);
  const pieces: Uint8Array[] = [h, config, parts, ram.present, table, ...compressed];
  const sha = createHash('sha256');
  for (const p of pieces) sha.update(p);
  pieces.push(sha.digest());
  return pieces;
}

/** Checks and parses a state file's bytes; `name` is for messages (the file's path). */
export async function decodeStateFile(bytes: Uint8Array, name = 'state file'): Promise<StateFile> {
  const fail = (what: string): never => { throw new BonsaiError(`${name}: ${what}`); };
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 8 || b.toString('latin1', 0, 8) !== STATE_MAGIC) fail('not a Bonsai machine state file');
  if (b.length < HEADER + DIGEST) fail(`truncated (${b.length} bytes)`);
  const version = b.readUInt32LE(8);
  if (version !== STATE_VERSION) fail(`state file format version ${version}; this Bonsai reads version ${STATE_VERSION}`);
  const total = readU64(b, 16);
  if (b.length < total) fail(`truncated (${b.length} of ${total} bytes)`);
  if (b.length > total) fail(`${b.length - total} bytes of trailing data after the ${total} the header names`);
  const digest = createHash('sha256').update(b.subarray(0, total - DIGEST)).digest();
  if (!digest.equals(b.subarray(total - DIGEST))) fail('checksum mismatch: the file is corrupt');
  // Checksummed: from here on a bad field means a bug or a doctored file, still refused, never trusted.
  if (b.readUInt32LE(12) !== COMPRESSION_DEFLATE) fail(`unknown compression ${b.readUInt32LE(12)}`);
  const ramBytes = readU64(b, 24);
  const configLen = b.readUInt32LE(32), partsLen = b.readUInt32LE(36);
  const chunkCount = b.readUInt32LE(40), chunkBytes = b.readUInt32LE(44);
  if (ramBytes % RAM_PAGE !== 0 || ramBytes > 2 ** 40 || chunkBytes === 0 || chunkBytes % RAM_PAGE !== 0) fail('bad header');
  const pages = ramBytes / RAM_PAGE;
  let at = HEADER;
  const take = (n: number): Buffer => {
    if (at + n > total - DIGEST) fail('bad section lengths');
    const s = b.subarray(at, at + n);
    at += n;
    return s;
  };
  const json = (buf: Buffer, what: string): unknown => {
    try { return JSON.parse(buf.toString('utf8')) as unknown; } catch { return fail(`bad ${what} JSON`); }
  };
  const config = json(take(configLen), 'configuration');
  const parts = json(take(partsLen), 'parts');
  const present = new Uint8Array(take(Math.ceil(pages / 8)));
  const table = take(4 * chunkCount);
  const compressed: Buffer[] = [];
  for (let i = 0; i < chunkCount; i++) compressed.push(take(table.readUInt32LE(4 * i)));
  if (at !== total - DIGEST) fail('bad section lengths');
  let presentPages = 0;
  for (let p = 0; p < pages; p++) if (present[p >> 3] & (1 << (p & 7))) presentPages++;
  const dataBytes = presentPages * RAM_PAGE;
  if (chunkCount !== Math.ceil(dataBytes / chunkBytes)) fail('bad chunk count');
  const data = new Uint8Array(dataBytes);
  await Promise.all(compressed.map(async (c, i) => {
    const want = Math.min(chunkBytes, dataBytes - i * chunkBytes);
    let out: Buffer;
    try { out = await inflate(c, { maxOutputLength: want + 1 }); } catch { return fail(`RAM chunk ${i} does not decompress`); }
    if (out.length !== want) fail(`RAM chunk ${i} is ${out.length} bytes, not ${want}`);
    data.set(out, i * chunkBytes);
  }));
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(config) || !isObject(parts)) fail('the configuration or the parts are not JSON objects');
  const ram: RamImage = { bytes: ramBytes, present, data };
  checkRamImage(ram, ramBytes);
  // The shapes inside are Machine.restore's to check, part by part.
  return { state: { config, parts } as MachineState, ram };
}

/**
 * Writes a state file atomically: a temporary name beside `path`, flushed, renamed over it, the folder
 * flushed. A failure leaves whatever was at `path` before. Returns the file's size.
 */
export async function writeStateFile(path: string, state: MachineState, ram: RamImage, opts: EncodeOptions = {}): Promise<number> {
  const pieces = await encodeStateFile(state, ram, opts);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  let size = 0;
  try {
    const fh = await open(tmp, 'w', 0o600);
    try {
      for (const p of pieces) {
        let off = 0;
        while (off < p.length) off += (await fh.write(p, off, p.length - off)).bytesWritten;
        size += p.length;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new BonsaiError(`${path}: cannot write the state file: ${e instanceof Error ? e.message : String(e)}`);
  }
  syncDir(dirname(path));
  return size;
}

export async function readStateFile(path: string): Promise<StateFile> {
  let bytes: Buffer;
  try { bytes = await readFile(path); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BonsaiError(`${path}: cannot read the state file${code === undefined ? '' : ` (${code})`}`);
  }
  return decodeStateFile(bytes, path);
}

function writeU64(b: Buffer, at: number, v: number): void {
  b.writeUInt32LE(v % TWO32, at);
  b.writeUInt32LE(Math.floor(v / TWO32), at + 4);
}

function readU64(b: Buffer, at: number): number {
  return b.readUInt32LE(at + 4) * TWO32 + b.readUInt32LE(at);
}
