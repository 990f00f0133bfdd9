/**
 * Checked readers for restoring virtio state. A snapshot is host data, not guest data, but it may be stale,
 * truncated or from another version: every field is checked before any of it is taken, and a bad one is an
 * Error naming the part and the field.
 */
import type { State } from '../stateful.js';

export type StateRecord = { [key: string]: State };

export function record(s: State | undefined, what: string): StateRecord {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new Error(`${what} state: not an object`);
  return s;
}

export function uint(o: StateRecord, key: string, max: number, what: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new Error(`${what} state: bad ${key}`);
  return v;
}

export function bool(o: StateRecord, key: string, what: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') throw new Error(`${what} state: bad ${key}`);
  return v;
}

export function list(o: StateRecord, key: string, what: string): State[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new Error(`${what} state: bad ${key}`);
  return v;
}

/** Bytes travel as base64 text: compact in JSON, and exact. */
export function blob(o: StateRecord, key: string, what: string): Uint8Array {
  const v = o[key];
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) {
    throw new Error(`${what} state: bad ${key}`);
  }
  return new Uint8Array(Buffer.from(v, 'base64'));
}

export function toBlob(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}
