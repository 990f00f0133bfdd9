/**
 * Where a switch lives: `${os.tmpdir()}/bonsai-${uid}/switch-NAME.sock`, in a folder only its user can
 * enter (so another user can neither join the segment nor squat on its socket). BONSAI_SWITCH_DIR
 * moves the folder (tests use it so they never touch the real one).
 */
import { lstatSync, mkdirSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BonsaiError } from '../../errors.js';

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** sockaddr_un.sun_path is 108 bytes on Linux (104 on macOS), including the NUL. */
const MAX_SOCKET_PATH = 103;

export interface SwitchPaths {
  dir: string;
  /** The daemon's listening socket. */
  socket: string;
  /** Held (created with 'wx') only while a daemon replaces a stale socket. */
  lock: string;
  /** The daemon's pid, for `kill` and tests. */
  pid: string;
  /** The detached daemon's log (it has no terminal). */
  log: string;
}

/** Throws a BonsaiError unless `name` is a switch name. */
export function checkSwitchName(name: string): void {
  if (!NAME.test(name)) {
    throw new BonsaiError(`switch name '${name}' is not 1-64 letters, digits, '_', '.' or '-'`);
  }
}

/** The default folder, or BONSAI_SWITCH_DIR. */
export function defaultSwitchDir(): string {
  const env = process.env.BONSAI_SWITCH_DIR;
  if (env !== undefined && env !== '') return env;
  const uid = process.getuid?.() ?? 0;
  return join(tmpdir(), `bonsai-${uid}`);
}

/** The paths for switch `name` (checked) in `dir` (default: defaultSwitchDir()). Creates nothing. */
export function switchPaths(name: string, dir = defaultSwitchDir()): SwitchPaths {
  checkSwitchName(name);
  const socket = join(dir, `switch-${name}.sock`);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw new BonsaiError(`switch '${name}': socket path ${socket} is too long for a Unix socket`);
  }
  return {
    dir, socket,
    lock: join(dir, `switch-${name}.lock`),
    pid: join(dir, `switch-${name}.pid`),
    log: join(dir, `switch-${name}.log`),
  };
}

/**
 * Creates the folder (mode 0700) if needed (and `create`) and checks that it is a real folder of this
 * user that no one else can write or enter: in a shared /tmp, someone could have made it first.
 */
export function ensureSwitchDir(dir: string, create = true): void {
  let st: Stats;
  try {
    if (create) mkdirSync(dir, { recursive: true, mode: 0o700 });
    st = lstatSync(dir);
  } catch (e) {
    throw new BonsaiError(`switch folder ${dir}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!st.isDirectory()) throw new BonsaiError(`switch folder ${dir} is not a folder`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new BonsaiError(`switch folder ${dir} belongs to another user`);
  if ((st.mode & 0o077) !== 0) throw new BonsaiError(`switch folder ${dir} is open to other users (chmod 700 it)`);
}
