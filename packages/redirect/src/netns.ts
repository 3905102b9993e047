/**
 * Network namespace handles and entering a namespace from Node's main thread.
 *
 * `setns(2)` moves only the calling *thread*. Like ztunnel's `InpodNetns::run` (ztunnel
 * istio/ztunnel@62d82653:src/inpod/netns.rs:39-86) we switch the current thread, run a synchronous function
 * (create a socket, spawn a tool: the child inherits the thread's namespace at fork), and switch back before
 * returning. Because the function is synchronous, nothing else on the event loop can run while the thread is
 * inside, and libuv's worker threads never leave the host namespace.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { RedirectError } from './codec/errors.js';
import { LINUX, libc } from './native/libc.js';

/**
 * An open network namespace: a file descriptor that keeps the namespace alive while it is open.
 *
 * @example
 * ```ts
 * using netns = openNetns('pod-a'); // /var/run/netns/pod-a
 * console.log(netns.inode);
 * ```
 */
export interface NetnsHandle {
  /** The descriptor (`O_RDONLY | O_CLOEXEC`). */
  readonly fd: number;
  /** Where it was opened from, for messages (`fd:<n>` for an adopted descriptor). */
  readonly path: string;
  /** Namespace identity, as ztunnel compares them: `(st_dev, st_ino)` of the nsfs file. */
  readonly device: bigint;
  /** See {@link NetnsHandle.device}. */
  readonly inode: bigint;
  /** Whether {@link NetnsHandle.close} ran. */
  readonly closed: boolean;
  /** Closes the descriptor (idempotent). */
  close(): void;
  /** Same as {@link NetnsHandle.close}, for `using`. */
  [Symbol.dispose](): void;
}

/**
 * How callers name a namespace: a handle, a name under `/var/run/netns/` (as `ip netns add` creates), or
 * an absolute path (`/proc/<pid>/ns/net`, a bind-mounted nsfs file).
 *
 * @example
 * ```ts
 * const a: NetnsRef = 'pod-a';
 * const b: NetnsRef = '/proc/4242/ns/net';
 * ```
 */
export type NetnsRef = string | NetnsHandle;

/**
 * Maps a namespace name or path to the file to open.
 *
 * @param netns - `pod-a` → `/var/run/netns/pod-a`; an absolute path is used as is.
 * @returns The path.
 * @throws {TypeError} When `netns` is empty, relative with a slash, or `.`/`..`.
 * @example
 * ```ts
 * resolveNetnsPath('pod-a'); // '/var/run/netns/pod-a'
 * ```
 */
export function resolveNetnsPath(netns: string): string {
  if (typeof netns !== 'string' || netns === '')
    throw new TypeError('netns: expected a name or an absolute path');
  if (netns.startsWith('/')) return netns;
  if (netns.includes('/') || netns === '.' || netns === '..') {
    throw new TypeError(
      `netns: ${JSON.stringify(netns)} is neither a name under /var/run/netns nor an absolute path`,
    );
  }
  return `/var/run/netns/${netns}`;
}

function describeFsError(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : String(error);
}

function makeHandle(fd: number, path: string): NetnsHandle {
  // NS_GET_NSTYPE answers CLONE_NEWNET only for a network namespace (nsfs file, /proc/<pid>/ns/net, or a
  // bind mount of one such as /var/run/netns/<name>); other files fail with ENOTTY.
  const c = libc();
  const type = c.nsType(fd);
  if (type !== LINUX.CLONE_NEWNET) {
    const why = type === -1 ? c.errnoName() : `namespace type 0x${type.toString(16)}`;
    closeSync(fd);
    throw new RedirectError('REDIRECT_ERR_NETNS_NOT_FOUND', `${path} is not a network namespace (${why})`);
  }
  const stat = fstatSync(fd, { bigint: true });
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    closeSync(fd);
  };
  return {
    fd,
    path,
    device: stat.dev,
    inode: stat.ino,
    get closed() {
      return closed;
    },
    close,
    [Symbol.dispose]: close,
  };
}

/**
 * Opens a network namespace.
 *
 * @param netns - A name under `/var/run/netns/` or an absolute path (see {@link NetnsRef}).
 * @returns A handle; close it when done.
 * @throws {RedirectError} `REDIRECT_ERR_NETNS_NOT_FOUND` when the path does not exist or is not a network
 * namespace; `REDIRECT_ERR_NETNS_ENTER` when it cannot be opened (permissions).
 * @example
 * ```ts
 * const netns = openNetns('/proc/4242/ns/net');
 * try { console.log(netns.inode); } finally { netns.close(); }
 * ```
 */
export function openNetns(netns: string): NetnsHandle {
  const path = resolveNetnsPath(netns);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (cause) {
    const code = describeFsError(cause);
    const missing = code === 'ENOENT' || code === 'ENOTDIR' || code === 'ESRCH';
    throw new RedirectError(
      missing ? 'REDIRECT_ERR_NETNS_NOT_FOUND' : 'REDIRECT_ERR_NETNS_ENTER',
      missing ? `network namespace ${path} does not exist` : `cannot open network namespace ${path}: ${code}`,
      { cause },
    );
  }
  return makeHandle(fd, path);
}

/**
 * Wraps a namespace descriptor received from elsewhere (a ZDS `AddWorkload`'s SCM_RIGHTS descriptor).
 * The handle owns the descriptor: closing the handle closes it.
 *
 * @param fd - An open descriptor of an nsfs file.
 * @param path - A label for messages. Default `fd:<fd>`.
 * @returns A handle.
 * @throws {RedirectError} `REDIRECT_ERR_NETNS_NOT_FOUND` (and closes `fd`) when it is not a network namespace.
 * @example
 * ```ts
 * const netns = adoptNetnsFd(receivedFd);
 * ```
 */
export function adoptNetnsFd(fd: number, path = `fd:${fd}`): NetnsHandle {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`fd: expected a descriptor, got ${String(fd)}`);
  return makeHandle(fd, path);
}

/**
 * Whether two handles are the same namespace (same `(st_dev, st_ino)`, ztunnel netns.rs:54-66).
 *
 * @param a - A handle.
 * @param b - Another handle.
 * @returns Identity of the namespaces, not of the descriptors.
 * @example
 * ```ts
 * isSameNetns(openNetns('pod-a'), openNetns('/proc/4242/ns/net'));
 * ```
 */
export function isSameNetns(a: NetnsHandle, b: NetnsHandle): boolean {
  return a.device === b.device && a.inode === b.inode;
}

// The descriptor of the namespace this thread lives in when not inside runInNetns, opened on first use
// (ztunnel's `InpodNetns::current()`), and the targets of nested runInNetns calls.
let homeFd: number | undefined;
const nested: number[] = [];

/** The namespace to switch back to: the enclosing runInNetns's target, else the thread's home. */
function returnFd(): number {
  homeFd ??= openSync('/proc/thread-self/ns/net', 'r');
  return nested.at(-1) ?? homeFd;
}

function enter(fd: number, label: string): void {
  const c = libc();
  if (c.setns(fd, LINUX.CLONE_NEWNET) !== 0) {
    const name = c.errnoName();
    throw new RedirectError(
      'REDIRECT_ERR_NETNS_ENTER',
      `setns(${label}) failed: ${name}${name === 'EPERM' ? ' (needs CAP_SYS_ADMIN)' : ''}`,
    );
  }
}

/**
 * Runs `fn` with the current thread inside `netns`, then switches back. `fn` must be synchronous: sockets
 * it creates and processes it spawns stay in `netns`; anything asynchronous it starts would run after the
 * thread is back home. Calls may nest.
 *
 * @param netns - The namespace to enter.
 * @param fn - Synchronous work.
 * @returns What `fn` returned.
 * @throws {RedirectError} `REDIRECT_ERR_NETNS_ENTER` when `setns` fails (nothing ran);
 * `REDIRECT_ERR_NETNS_RESTORE` when switching back fails: the thread is stranded in the pod's namespace and
 * the process should exit (ztunnel panics in this case).
 * @throws {TypeError} When `fn` returned a promise (its synchronous part already ran inside).
 * @example
 * ```ts
 * const fd = runInNetns(netns, () => libc().socket(10, 1, 0));
 * ```
 */
export function runInNetns<T>(netns: NetnsHandle, fn: () => T): T {
  if (netns.closed) throw new TypeError(`netns ${netns.path} is closed`);
  const c = libc();
  const back = returnFd();
  enter(netns.fd, netns.path);
  nested.push(netns.fd);
  let result: T;
  try {
    result = fn();
  } finally {
    nested.pop();
    if (c.setns(back, LINUX.CLONE_NEWNET) !== 0) {
      // biome-ignore lint/correctness/noUnsafeFinally: a thread stranded in the pod's namespace outranks fn's error.
      throw new RedirectError(
        'REDIRECT_ERR_NETNS_RESTORE',
        `could not switch the thread back from ${netns.path}: ${c.errnoName()}`,
      );
    }
  }
  if (typeof (result as { then?: unknown } | null)?.then === 'function') {
    throw new TypeError('runInNetns: fn must be synchronous; it returned a promise');
  }
  return result;
}

/**
 * Creates a fresh, empty network namespace (only `lo`, down) that lives as long as the returned handle.
 * Used to learn how the kernel and tools print a rule set without touching a real namespace.
 *
 * @returns A handle to the new namespace.
 * @throws {RedirectError} `REDIRECT_ERR_NETNS_ENTER` when `unshare(CLONE_NEWNET)` is not permitted.
 * @example
 * ```ts
 * using scratch = createScratchNetns();
 * ```
 */
export function createScratchNetns(): NetnsHandle {
  const c = libc();
  const back = returnFd();
  if (c.unshare(LINUX.CLONE_NEWNET) !== 0) {
    throw new RedirectError('REDIRECT_ERR_NETNS_ENTER', `unshare(CLONE_NEWNET) failed: ${c.errnoName()}`);
  }
  let fd: number | undefined;
  try {
    fd = openSync('/proc/thread-self/ns/net', 'r');
  } finally {
    if (c.setns(back, LINUX.CLONE_NEWNET) !== 0) {
      // biome-ignore lint/correctness/noUnsafeFinally: a thread stranded in the scratch namespace outranks the open error.
      throw new RedirectError(
        'REDIRECT_ERR_NETNS_RESTORE',
        `could not leave the scratch namespace: ${c.errnoName()}`,
      );
    }
  }
  return makeHandle(fd, 'scratch');
}
