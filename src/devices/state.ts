/**
 * The one validator module for restored state (DESIGN.md, Stateful): every part checks a saved state with
 * these readers before it takes any of it. A snapshot is host data, not guest data, but it may be stale,
 * truncated, doctored or from another version: a bad field is a BonsaiError naming the part and the field,
 * and the part is left as it was.
 */
import { BonsaiError } from '../errors.js';
import type { State } from './stateful.js';

export type StateRecord = { [key: string]: State };

const TWO32 = 4294967296;

/** Throws the one-line error for a bad field of `what`'s state. */
export function badState(what: string, detail: string): never {
  throw new BonsaiError(`${what} state: ${detail}`);
}

export function record(s: State | undefined, what: string): StateRecord {
  if (typeof s !== 'object' || s === null || Array.isArray(s)) badState(what, 'not an object');
  return s;
}

/** An integer in 0..max (max at most 2^53 - 1). */
export function uint(o: StateRecord, key: string, max: number, what: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) badState(what, `bad ${key}`);
  return v;
}

/** A signed 32-bit integer (a register half as an Int32Array holds it). */
export function int32(o: StateRecord, key: string, what: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) badState(what, `bad ${key}`);
  return v;
}

/** A 64-bit value saved as [lo, hi], each a signed 32-bit half. */
export function pair(o: StateRecord, key: string, what: string): [number, number] {
  const v = int32s(o, key, 2, what);
  return [v[0], v[1]];
}

/** Exactly `length` signed 32-bit integers. */
export function int32s(o: StateRecord, key: string, length: number, what: string): number[] {
  const v = o[key];
  if (!Array.isArray(v) || v.length !== length) badState(what, `bad ${key}`);
  for (const x of v) {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < -0x80000000 || x > 0x7fffffff) badState(what, `bad ${key}`);
  }
  return v as number[];
}

/** Exactly `length` integers in 0..max. */
export function uints(o: StateRecord, key: string, length: number, max: number, what: string): number[] {
  const v = o[key];
  if (!Array.isArray(v) || v.length !== length) badState(what, `bad ${key}`);
  for (const x of v) {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > max) badState(what, `bad ${key}`);
  }
  return v as number[];
}

export function bool(o: StateRecord, key: string, what: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') badState(what, `bad ${key}`);
  return v;
}

export function str(o: StateRecord, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== 'string') badState(what, `bad ${key}`);
  return v;
}

export function list(o: StateRecord, key: string, what: string): State[] {
  const v = o[key];
  if (!Array.isArray(v)) badState(what, `bad ${key}`);
  return v;
}

/** Bytes travel as base64 text: compact in JSON, and exact. */
export function blob(o: StateRecord, key: string, what: string): Uint8Array {
  const v = o[key];
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) badState(what, `bad ${key}`);
  return new Uint8Array(Buffer.from(v, 'base64'));
}

export function toBlob(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** A non-negative integer below 2^64 as [lo, hi] unsigned halves, for values a double cannot hold exactly. */
export function splitU64(v: number): [number, number] {
  return [v % TWO32, Math.floor(v / TWO32)];
}
