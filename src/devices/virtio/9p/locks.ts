/**
 * Advisory POSIX record locks (Tlock/Tgetlock), kept by the server itself rather than taken on the host:
 * they coordinate the guest's processes with each other, which is all fcntl(F_SETLK) promises them.
 * An owner is (client_id, proc_id) as the Linux client sends them; ranges are [start, end) in bytes, with
 * length 0 meaning "to the end of the file, however it grows" (struct flock's l_len = 0).
 */

export const LOCK_RDLCK = 0;
export const LOCK_WRLCK = 1;
export const LOCK_UNLCK = 2;

export const LOCK_SUCCESS = 0;
export const LOCK_BLOCKED = 1;
/** The Linux client turns this status into ENOLCK. */
export const LOCK_ERROR = 2;

/** Past every offset a 64-bit file can have. */
const EOF = 1n << 64n;

export interface LockRequest {
  type: number;
  start: bigint;
  length: bigint;
  procId: number;
  clientId: string;
}

export interface HeldLock {
  type: number;
  start: bigint;
  /** Exclusive; EOF for a lock that runs to the end of the file. */
  end: bigint;
  procId: number;
  clientId: string;
  /** The fid it was taken through: clunking that fid drops it, as closing a descriptor does. */
  fid: number;
}

function endOf(start: bigint, length: bigint): bigint {
  if (length === 0n) return EOF;
  const end = start + length;
  return end > EOF ? EOF : end;
}

function sameOwner(a: { procId: number; clientId: string }, b: { procId: number; clientId: string }): boolean {
  return a.procId === b.procId && a.clientId === b.clientId;
}

export class LockTable {
  /** Keyed by file identity (device and inode), so every fid on one file sees the same locks. */
  private readonly files = new Map<string, HeldLock[]>();
  private count = 0;

  /** limit bounds the memory a guest can make the server spend on lock records. */
  constructor(private readonly limit = 65536) {}

  /** The first lock held by another owner that keeps req from being granted, or null. */
  conflict(file: string, req: LockRequest): HeldLock | null {
    const end = endOf(req.start, req.length);
    for (const l of this.files.get(file) ?? []) {
      if (sameOwner(l, req)) continue;
      if (l.start >= end || req.start >= l.end) continue;
      if (l.type === LOCK_WRLCK || req.type === LOCK_WRLCK) return l;
    }
    return null;
  }

  /** F_SETLK: grants, replaces or (LOCK_UNLCK) removes the owner's locks over the range. Never waits. */
  set(file: string, req: LockRequest, fid: number): number {
    if (req.type !== LOCK_UNLCK) {
      if (this.conflict(file, req) !== null) return LOCK_BLOCKED;
      if (this.count >= this.limit) return LOCK_ERROR;
    }
    const end = endOf(req.start, req.length);
    const kept: HeldLock[] = [];
    const before = this.files.get(file) ?? [];
    for (const l of before) {
      if (!sameOwner(l, req) || l.start >= end || req.start >= l.end) {
        kept.push(l);
        continue;
      }
      // The owner's own lock overlapping the range: what lies outside the range survives.
      if (l.start < req.start) kept.push({ ...l, end: req.start });
      if (l.end > end) kept.push({ ...l, start: end });
    }
    if (req.type !== LOCK_UNLCK) {
      kept.push({ type: req.type, start: req.start, end, procId: req.procId, clientId: req.clientId, fid });
    }
    this.count += kept.length - before.length;
    if (kept.length === 0) this.files.delete(file);
    else this.files.set(file, kept);
    return LOCK_SUCCESS;
  }

  /** The length to report for a held lock (0 = to end of file). */
  static lengthOf(l: HeldLock): bigint {
    return l.end === EOF ? 0n : l.end - l.start;
  }

  releaseFid(fid: number): void {
    for (const [file, locks] of this.files) {
      const kept = locks.filter((l) => l.fid !== fid);
      this.count -= locks.length - kept.length;
      if (kept.length === 0) this.files.delete(file);
      else if (kept.length !== locks.length) this.files.set(file, kept);
    }
  }

  clear(): void {
    this.files.clear();
    this.count = 0;
  }

  /** How many lock records are held. */
  get size(): number {
    return this.count;
  }
}
