/**
 * One image, one writer: an image open for writing has no other user, and an image open read-only (a `:ro`
 * disk, a backing file) has no writer, within this process and across processes.
 *
 * QEMU takes byte-range locks (F_OFD_SETLK) on the image itself; Node has no fcntl(), so Bonsai keeps its
 * own protocol and, on Linux, also honours the locks QEMU (or any program) holds, read from /proc/locks:
 *   - within this process, a table of the images open here, by device and inode (so two names or a symlink
 *     for one file are the same image);
 *   - across Bonsai processes, one small file per user of an image in a lock folder (BONSAI_LOCK_DIR, or
 *     /tmp/bonsai-UID-locks): `DEV-INO.w|r.PID.RANDOM` holding the user's pid, its start time, its program
 *     and the name it opened the image by. A user first creates its own file, then reads
 *     everyone else's: of two that start together at least one sees the other (both may back off; a retry
 *     then works), and no file is ever taken over, so a stale lock needs no breaking: a file whose pid is
 *     dead (or now belongs to a younger process) is ignored and removed;
 *   - QEMU's locks: bytes 100 + n mean "holds permission n", 200 + n "lets nobody else have n", with n = 0
 *     consistent read, 1 write, 3 resize (QEMU block/file-posix.c). Any other lock counts as a plain
 *     reader (shared) or writer (exclusive).
 * QEMU cannot see Bonsai's locks (they are not fcntl locks): see docs/images.md, "Locking".
 */
import { readdirSync, readFileSync, unlinkSync, utimesSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BonsaiError, fsErrorWords } from '../errors.js';
import { majorMinor } from './file.js';

export type LockMode = 'write' | 'shared';

export interface ImageLock {
  /** Gives the image up (idempotent). */
  release(): Promise<void>;
}

/**
 * What identifies the file, whatever its name: device and inode. (Not the birth time: where the kernel or
 * the file system has none, Node reports the ctime, which every write changes. An inode reused after its
 * image was deleted while open only makes a lock refuse wrongly, never allow wrongly.)
 */
export interface FileId {
  dev: number;
  ino: number;
}

interface Held {
  key: string;
  mode: LockMode;
  path: string;
  /** This user's file in the lock folder. */
  file: string;
}

const heldHere = new Set<Held>();
let hooksInstalled = false;
/** How often held lock files are touched: cleaners such as systemd-tmpfiles remove files in /tmp unused for 10 days. */
const REFRESH_MS = 6 * 3600 * 1000;

/**
 * The lock folder: one per user, so that no other user can fake or remove a lock, and the same for every
 * process of that user whatever its environment (TMPDIR and XDG_RUNTIME_DIR differ between a login shell, a
 * service and cron; a second folder would be a second, blind set of locks).
 */
export function lockDir(): string {
  const env = process.env.BONSAI_LOCK_DIR;
  if (env !== undefined && env !== '') return env;
  const uid = process.getuid?.();
  return uid === undefined ? join(tmpdir(), 'bonsai-locks') : `/tmp/bonsai-${uid}-locks`;
}

/**
 * Takes a write lock (no other user at all) or a shared lock (other readers only) on an image, or throws a
 * one-line BonsaiError naming the image and who holds it.
 */
export async function lockImage(path: string, id: FileId, mode: LockMode): Promise<ImageLock> {
  const key = `${id.dev}-${id.ino}`;
  for (const h of heldHere) {
    if (h.key !== key || (mode === 'shared' && h.mode === 'shared')) continue;
    const as = h.path === path ? '' : ` as ${h.path}`;
    throw new BonsaiError(h.mode === 'write'
      ? `${path}: is already open for writing in this VM${as}; an image can be one writable disk only (add :ro to every use to share it read-only)`
      : `${path}: is already open read-only in this VM${as} (a :ro disk or a backing file), so it cannot also be written`);
  }
  const foreign = await hostLockConflict(path, id, mode);
  if (foreign !== null) throw new BonsaiError(foreign);

  const dir = lockDir();
  await ensureDir(dir);
  const file = join(dir, `${key}.${mode === 'write' ? 'w' : 'r'}.${process.pid}.${randomBytes(4).toString('hex')}`);
  try {
    const lock = { pid: process.pid, start: await startTime(process.pid), program: programName(), path };
    await writeFile(file, `${JSON.stringify(lock)}\n`, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    throw new BonsaiError(`${path}: cannot lock the image: ${file}: ${fsErrorWords(e)}`);
  }
  let conflict: string | null = null;
  try {
    conflict = await bonsaiConflict(path, dir, key, file, mode);
  } catch (e) {
    conflict = `${path}: cannot lock the image: ${dir}: ${fsErrorWords(e)}`;
  }
  if (conflict !== null) {
    await unlink(file).catch(() => undefined);
    throw new BonsaiError(conflict);
  }
  const held: Held = { key, mode, path, file };
  heldHere.add(held);
  if (!hooksInstalled) {
    hooksInstalled = true;
    // A process that exits without closing its disks leaves no lock behind (one killed leaves a stale one).
    process.once('exit', () => {
      for (const h of heldHere) {
        try { unlinkSync(h.file); } catch { /* already gone */ }
      }
    });
    setInterval(() => {
      const now = new Date();
      for (const h of heldHere) {
        try { utimesSync(h.file, now, now); } catch { /* reported by nobody: the next opener finds no lock */ }
      }
    }, REFRESH_MS).unref();
  }
  return {
    release: async () => {
      if (!heldHere.delete(held)) return;
      await unlink(file).catch(() => undefined);
    },
  };
}

async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const st = await lstat(dir);
    const uid = process.getuid?.();
    // Writable by others, it would let them fake or remove locks.
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o022) !== 0) {
      throw new BonsaiError(`lock folder ${dir} is not a folder of your own that only you can write (set BONSAI_LOCK_DIR to one)`);
    }
  } catch (e) {
    if (e instanceof BonsaiError) throw e;
    throw new BonsaiError(`lock folder ${dir}: ${fsErrorWords(e)} (set BONSAI_LOCK_DIR to a folder of your own)`);
  }
}

/** Other Bonsai users of the image that conflict with `mode`, read from the lock folder; stale ones are removed. */
async function bonsaiConflict(path: string, dir: string, key: string, own: string, mode: LockMode): Promise<string | null> {
  for (const name of await readdir(dir)) {
    const m = /^(\d+-\d+)\.([wr])\.(\d+)\.[0-9a-f]+$/.exec(name);
    if (m === null || join(dir, name) === own) continue;
    const file = join(dir, name);
    if (m[1] !== key) {
      // Another image's: tidy up after killed processes on the way (a dead pid is the cheap, certain case).
      if (!processRuns(Number(m[3]))) await unlink(file).catch(() => undefined);
      continue;
    }
    let info: { pid?: unknown; start?: unknown; program?: unknown; path?: unknown } = {};
    try {
      info = JSON.parse(await readFile(file, 'utf8')) as typeof info;
    } catch {
      // Being written or removed right now: judge it by its name.
    }
    const pid = Number(m[3]);
    if (!(await alive(pid, typeof info.start === 'number' ? info.start : undefined))) {
      await unlink(file).catch(() => undefined);
      continue;
    }
    const theirs = m[2] === 'w' ? 'write' : 'shared';
    if (mode === 'shared' && theirs === 'shared') continue;
    const holder = `pid ${pid}${typeof info.program === 'string' ? ` (${info.program})` : await processName(pid)}`;
    const as = typeof info.path === 'string' && info.path !== path ? ` as ${info.path}` : '';
    return theirs === 'write'
      ? `${path}: is open for writing by ${holder}${as}; is another VM using it?`
      : `${path}: is open read-only by ${holder}${as} (a :ro disk or a backing file), so it cannot be written; is another VM using it?`;
  }
  return null;
}

/**
 * Whether process `pid` runs: it exists (EPERM: as another user), and where Linux tells, it is no zombie. A
 * killed process whose parent never reaps it (a container's init may not) keeps its pid but is dead.
 */
export function processRuns(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return true; // no /proc (or not ours to read): the pid exists
  }
}

/** Whether pid runs and is the process that wrote the lock (a reused pid has another start time). */
async function alive(pid: number, start: number | undefined): Promise<boolean> {
  if (!processRuns(pid)) return false;
  if (start === undefined) return true;
  const now = await startTime(pid);
  return now === undefined || now === start;
}

/** A process's start time in clock ticks since boot (/proc/PID/stat field 22), where Linux tells it. */
async function startTime(pid: number): Promise<number | undefined> {
  try {
    const s = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isSafeInteger(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** What to call this process in another's error: the script (bonsai), not the interpreter (node). */
function programName(): string {
  const script = process.argv[1];
  const evaluated = process.execArgv.some((a) => /^(-e|-p|--eval|--print)(=|$)/.test(a)); // argv[1] is then an argument
  return script === undefined || evaluated ? basename(process.execPath) : basename(script).replace(/\.[cm]?js$/, '');
}

async function processName(pid: number): Promise<string> {
  try {
    return ` (${(await readFile(`/proc/${pid}/comm`, 'utf8')).trim()})`;
  } catch {
    return '';
  }
}

interface HostLock {
  exclusive: boolean;
  pid: number;
  start: number;
  end: number;
}

/** /proc/locks' name for a file: "MAJOR:MINOR:INODE", the numbers of the device in hex. */
function procLocksId(id: FileId): string {
  const [major, minor] = majorMinor(id.dev);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${id.ino}`;
}

/** Locks held on the file (Linux; none elsewhere). Waiters ("->") hold nothing yet. */
function parseLocks(text: string, fileId: string): HostLock[] {
  const out: HostLock[] = [];
  for (const line of text.split('\n')) {
    const f = line.replace(/^lock:\s*/, '').trim().split(/\s+/);
    // "1: OFDLCK ADVISORY READ -1 fe:00:2449587 100 101"
    if (f.length < 8 || f[1] === '->' || f[5] !== fileId) continue;
    out.push({ exclusive: f[3] === 'WRITE', pid: Number(f[4]), start: Number(f[6]), end: f[7] === 'EOF' ? Infinity : Number(f[7]) });
  }
  return out;
}

const MEANINGS = ['holds an exclusive lock on it', 'has it open for writing', 'lets nobody else read it',
  'has it open and lets nobody else write it', 'holds a shared lock on it'] as const;

/** What a lock's holder is doing that conflicts with `mode`, after QEMU's byte meanings, or null. */
function lockMeaning(l: HostLock, mode: LockMode): (typeof MEANINGS)[number] | null {
  if (l.exclusive) return MEANINGS[0];
  const covers = (b: number): boolean => l.start <= b && b <= l.end;
  if (l.start < 100 || l.end > 299) return mode === 'write' ? MEANINGS[4] : null;
  if (covers(101) || covers(103)) return MEANINGS[1];
  if (covers(200)) return MEANINGS[2];
  if (mode === 'write' && (covers(201) || covers(203))) return MEANINGS[3];
  return null;
}

async function hostLockConflict(path: string, id: FileId, mode: LockMode): Promise<string | null> {
  let text: string;
  try {
    text = await readFile('/proc/locks', 'utf8');
  } catch {
    return null; // not Linux
  }
  const fileId = procLocksId(id);
  // A holder takes several byte locks; name the one that says most (lockMeaning's order).
  let worst: { l: HostLock; what: (typeof MEANINGS)[number]; rank: number } | null = null;
  for (const l of parseLocks(text, fileId)) {
    const what = lockMeaning(l, mode);
    if (what === null) continue;
    const rank = MEANINGS.indexOf(what);
    if (worst === null || rank < worst.rank) worst = { l, what, rank };
  }
  if (worst === null) return null;
  const pid = worst.l.pid > 0 ? worst.l.pid : ofdHolder(fileId);
  const holder = pid === null ? 'another process' : `pid ${pid}${await processName(pid)}`;
  return `${path}: ${holder} ${worst.what}; is another VM using it?`;
}

/** OFD locks (QEMU's) show pid -1 in /proc/locks; the holder's fdinfo lists them. Only our own processes are readable. */
function ofdHolder(fileId: string): number | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return null;
  }
  for (const p of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fdinfo`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (parseLocks(readFileSync(`/proc/${p}/fdinfo/${fd}`, 'utf8'), fileId).length > 0) return Number(p);
      } catch {
        // the fd closed meanwhile
      }
    }
  }
  return null;
}
