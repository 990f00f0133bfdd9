/**
 * Linux errno numbers, which Rlerror carries whatever the host is (include/uapi/asm-generic/errno-base.h,
 * errno.h), and the mapping from Node's error codes to them.
 */

export const EPERM = 1;
export const ENOENT = 2;
export const EIO = 5;
export const ENXIO = 6;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EBUSY = 16;
export const EEXIST = 17;
export const EXDEV = 18;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const ENFILE = 23;
export const EMFILE = 24;
export const EFBIG = 27;
export const ENOSPC = 28;
export const EROFS = 30;
export const ERANGE = 34;
export const ENAMETOOLONG = 36;
export const ENOLCK = 37;
export const ENOTEMPTY = 39;
export const ELOOP = 40;
export const ENODATA = 61;
export const EOPNOTSUPP = 95;

/** A failure the guest is told about as Rlerror(errno). */
export class P9Error extends Error {
  constructor(readonly errno: number) {
    super(`9P error ${errno}`);
    this.name = 'P9Error';
  }
}

const BY_CODE: Readonly<Record<string, number>> = {
  EPERM, ENOENT, ESRCH: 3, EINTR: 4, EIO, ENXIO, E2BIG: 7, ENOEXEC: 8, EBADF, ECHILD: 10, EAGAIN,
  EWOULDBLOCK: EAGAIN, ENOMEM, EACCES, EFAULT: 14, ENOTBLK: 15, EBUSY, EEXIST, EXDEV, ENODEV: 19, ENOTDIR,
  EISDIR, EINVAL, ENFILE, EMFILE, ENOTTY: 25, ETXTBSY: 26, EFBIG, ENOSPC, ESPIPE: 29, EROFS, EMLINK: 31,
  EPIPE: 32, EDOM: 33, ERANGE, EDEADLK: 35, ENAMETOOLONG, ENOLCK, ENOSYS: 38, ENOTEMPTY, ELOOP, ENODATA,
  ENOATTR: ENODATA, EPROTO: 71, EOVERFLOW: 75, EILSEQ: 84, EMSGSIZE: 90, ENOTSUP: EOPNOTSUPP, EOPNOTSUPP,
  ESTALE: 116, EDQUOT: 122, ECANCELED: 125, EFTYPE: EINVAL,
  // Node's own argument checks (a NUL byte in a path, an out-of-range number) are bad input from the guest.
  ERR_INVALID_ARG_VALUE: EINVAL, ERR_INVALID_ARG_TYPE: EINVAL, ERR_OUT_OF_RANGE: EINVAL,
  ERR_FS_FILE_TOO_LARGE: EFBIG, ERR_BUFFER_TOO_LARGE: ENOMEM,
};

/** The Linux errno for anything thrown while serving a request; EIO when nothing better is known. */
export function errnoOf(e: unknown): number {
  if (e instanceof P9Error) return e.errno;
  if (typeof e === 'object' && e !== null && 'code' in e) {
    const code = (e as { code: unknown }).code;
    if (typeof code === 'string' && Object.hasOwn(BY_CODE, code)) return BY_CODE[code] ?? EIO;
  }
  return EIO;
}
