/**
 * The few libc calls Node does not expose (setns, unshare, socket options, SCM_RIGHTS), bound with koffi.
 *
 * koffi and libc are loaded on first use, synchronously (`createRequire`), so importing the package costs
 * nothing and the synchronous helpers (`originalDestination`, `runInNetns`) need no `await`. Linux only:
 * the constants below are the asm-generic values shared by x86_64 and arm64.
 */
import { createRequire } from 'node:module';
import { RedirectError } from '../codec/errors.js';

type KoffiModule = typeof import('koffi');
type Fn = (...args: unknown[]) => unknown;

/**
 * Linux constants (asm-generic/socket.h, linux/in.h, linux/in6.h, linux/sched.h, bits/socket.h).
 *
 * @example
 * ```ts
 * libc().setsockoptInt(fd, LINUX.SOL_SOCKET, LINUX.SO_MARK, 0x539);
 * ```
 */
export const LINUX = {
  CLONE_NEWNET: 0x40000000,
  SOCK_STREAM: 1,
  SOCK_DGRAM: 2,
  SOCK_SEQPACKET: 5,
  SOCK_NONBLOCK: 0o4000,
  SOCK_CLOEXEC: 0o2000000,
  SOL_SOCKET: 1,
  SO_REUSEADDR: 2,
  SO_ERROR: 4,
  SO_REUSEPORT: 15,
  SO_MARK: 36,
  SOL_IP: 0,
  IP_FREEBIND: 15,
  IP_TRANSPARENT: 19,
  SO_ORIGINAL_DST: 80,
  SOL_IPV6: 41,
  IPV6_V6ONLY: 26,
  IPV6_TRANSPARENT: 75,
  IPV6_FREEBIND: 78,
  IP6T_SO_ORIGINAL_DST: 80,
  SCM_RIGHTS: 1,
  MSG_CTRUNC: 0x8,
  MSG_TRUNC: 0x20,
  MSG_DONTWAIT: 0x40,
  MSG_NOSIGNAL: 0x4000,
  MSG_CMSG_CLOEXEC: 0x40000000,
} as const;

/**
 * The bound functions. Each returns the raw libc result (`-1` on failure); read {@link Libc.errnoName}
 * right after a failing call.
 *
 * @example
 * ```ts
 * const c = libc();
 * if (c.setns(fd, LINUX.CLONE_NEWNET) !== 0) throw new Error(c.errnoName());
 * ```
 */
export interface Libc {
  readonly koffi: KoffiModule;
  setns(fd: number, nstype: number): number;
  unshare(flags: number): number;
  socket(domain: number, type: number, protocol: number): number;
  close(fd: number): number;
  bind(fd: number, addr: Uint8Array, length: number): number;
  connect(fd: number, addr: Uint8Array, length: number): number;
  listen(fd: number, backlog: number): number;
  accept4(fd: number, flags: number): number;
  /** `setsockopt` of an `int` option. */
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
  /** `getsockopt` of an `int` option; `undefined` on failure. */
  getsockoptInt(fd: number, level: number, name: number): number | undefined;
  /** `getsockopt` into a buffer of `capacity` bytes; the bytes the kernel wrote, or `undefined`. */
  getsockoptBytes(fd: number, level: number, name: number, capacity: number): Uint8Array | undefined;
  /** `sendmsg` with a pointer to a `struct msghdr` in native memory. */
  sendmsg(fd: number, msg: bigint, flags: number): number;
  /** `recvmsg` with a pointer to a `struct msghdr` in native memory. */
  recvmsg(fd: number, msg: bigint, flags: number): number;
  /** `struct iovec` (anonymous koffi type, so it can't clash with another koffi user's names). */
  readonly iovec: unknown;
  /** `struct msghdr`. */
  readonly msghdr: unknown;
  /** `unlink(2)`. */
  unlink(path: string): number;
  /** `ioctl(fd, NS_GET_NSTYPE)`: the `CLONE_NEW*` type of a namespace descriptor, or `-1` (`ENOTTY`). */
  nsType(fd: number): number;
  /** `errno` of the last failing call on this thread (or `code`) as its symbolic name (`EADDRINUSE`). */
  errnoName(code?: number): string;
}

let cached: Libc | undefined;

/**
 * Loads koffi and binds libc on first call; later calls return the same object.
 *
 * @returns The bound functions.
 * @throws {RedirectError} `REDIRECT_ERR_NATIVE_UNAVAILABLE` off Linux or when koffi cannot load.
 * @example
 * ```ts
 * const fd = libc().socket(10, LINUX.SOCK_STREAM | LINUX.SOCK_CLOEXEC, 0);
 * ```
 */
export function libc(): Libc {
  if (cached !== undefined) return cached;
  if (process.platform !== 'linux') {
    throw new RedirectError(
      'REDIRECT_ERR_NATIVE_UNAVAILABLE',
      `network namespaces and these socket options are Linux-only (platform is ${process.platform})`,
    );
  }
  let koffi: KoffiModule;
  let lib: ReturnType<KoffiModule['load']>;
  try {
    koffi = createRequire(import.meta.url)('koffi') as KoffiModule;
    lib = koffi.load('libc.so.6');
  } catch (cause) {
    throw new RedirectError(
      'REDIRECT_ERR_NATIVE_UNAVAILABLE',
      `cannot load koffi/libc.so.6: ${String(cause)}`,
      {
        cause,
      },
    );
  }
  const f = (decl: string): Fn => lib.func(decl) as unknown as Fn;
  const setns = f('int setns(int fd, int nstype)');
  const unshare = f('int unshare(int flags)');
  const socket = f('int socket(int domain, int type, int protocol)');
  const close = f('int close(int fd)');
  const bind = f('int bind(int fd, const uint8_t *addr, uint32_t len)');
  const connect = f('int connect(int fd, const uint8_t *addr, uint32_t len)');
  const listen = f('int listen(int fd, int backlog)');
  const accept4 = f('int accept4(int fd, void *addr, void *len, int flags)');
  const setsockopt = f('int setsockopt(int fd, int level, int name, const uint8_t *val, uint32_t len)');
  const getsockopt = f(
    'int getsockopt(int fd, int level, int name, _Out_ uint8_t *val, _Inout_ uint32_t *len)',
  );
  const ioctl = f('int ioctl(int fd, unsigned long request, ...)');
  const unlink = f('int unlink(const char *path)');
  const iovec = koffi.struct({ iov_base: 'void *', iov_len: 'size_t' });
  const msghdr = koffi.struct({
    msg_name: 'void *',
    msg_namelen: 'uint32_t',
    msg_iov: 'void *',
    msg_iovlen: 'size_t',
    msg_control: 'void *',
    msg_controllen: 'size_t',
    msg_flags: 'int',
  });
  const sendmsg = f('long sendmsg(int fd, void *msg, int flags)');
  const recvmsg = f('long recvmsg(int fd, void *msg, int flags)');
  const names = new Map<number, string>();
  for (const [name, code] of Object.entries(koffi.os.errno)) if (!names.has(code)) names.set(code, name);
  const int32 = (value: number): Uint8Array => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, value, true);
    return b;
  };
  cached = {
    koffi,
    setns: (fd, nstype) => setns(fd, nstype) as number,
    unshare: (flags) => unshare(flags) as number,
    socket: (domain, type, protocol) => socket(domain, type, protocol) as number,
    close: (fd) => close(fd) as number,
    bind: (fd, addr, length) => bind(fd, addr, length) as number,
    connect: (fd, addr, length) => connect(fd, addr, length) as number,
    listen: (fd, backlog) => listen(fd, backlog) as number,
    accept4: (fd, flags) => accept4(fd, null, null, flags) as number,
    // Little endian: koffi only ships for little-endian Linux targets (x86_64, arm64, riscv64, loong64).
    setsockoptInt: (fd, level, name, value) => setsockopt(fd, level, name, int32(value), 4) as number,
    getsockoptInt: (fd, level, name) => {
      const buf = new Uint8Array(4);
      const len = [4];
      if ((getsockopt(fd, level, name, buf, len) as number) !== 0) return undefined;
      return new DataView(buf.buffer).getInt32(0, true);
    },
    getsockoptBytes: (fd, level, name, capacity) => {
      const buf = new Uint8Array(capacity);
      const len = [capacity];
      if ((getsockopt(fd, level, name, buf, len) as number) !== 0) return undefined;
      return buf.subarray(0, Math.min(capacity, len[0] as number));
    },
    sendmsg: (fd, msg, flags) => Number(sendmsg(fd, msg, flags)),
    recvmsg: (fd, msg, flags) => Number(recvmsg(fd, msg, flags)),
    // NS_GET_NSTYPE = _IO(0xb7, 0x3) (linux/nsfs.h), Linux 4.11+.
    nsType: (fd) => ioctl(fd, 0xb703) as number,
    iovec,
    msghdr,
    unlink: (path) => unlink(path) as number,
    errnoName: (code) => {
      const value = code ?? koffi.errno();
      return names.get(value) ?? `errno ${value}`;
    },
  };
  return cached;
}
