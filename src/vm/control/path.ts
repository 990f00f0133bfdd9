import { relative } from 'node:path';
import { BonsaiError } from '../../errors.js';

/** sockaddr_un holds 108 bytes on Linux and 104 on macOS, the terminating NUL included. */
const MAX_SOCKET_PATH = 103;

/**
 * The name to bind or connect a Unix socket by: the path itself, or, when that is too long for sockaddr_un,
 * the same file relative to the working directory. Still too long: a one-line error with the fix.
 */
export function socketPath(path: string): string {
  if (Buffer.byteLength(path) <= MAX_SOCKET_PATH) return path;
  const rel = relative(process.cwd(), path);
  if (Buffer.byteLength(rel) <= MAX_SOCKET_PATH) return rel;
  throw new BonsaiError(`${path}: too long for a Unix socket (${MAX_SOCKET_PATH} bytes at most); set BONSAI_HOME to a shorter folder`);
}
