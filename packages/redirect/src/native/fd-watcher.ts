/**
 * Readiness of a raw descriptor on Node's own event loop, through koffi's `uv_poll_t` binding
 * (`koffi.node.poll`). No thread blocks and nothing spins: libuv's epoll reports the descriptor like any
 * socket of Node's own. Used for descriptors Node cannot wrap: a TCP socket still connecting (before we
 * hand it to `net.Socket`) and `SOCK_SEQPACKET` unix sockets (ZDS).
 *
 * libuv allows one poll handle per descriptor, so a watcher owns its descriptor's only handle and
 * re-arms it with new interests; close the watcher before closing or handing over the descriptor.
 */
import { RedirectError } from '../codec/errors.js';
import { libc } from './libc.js';

/**
 * What a descriptor became.
 *
 * @example
 * ```ts
 * const events: FdEvents = { readable: true, writable: false, disconnect: false, error: false };
 * ```
 */
export interface FdEvents {
  readonly readable: boolean;
  readonly writable: boolean;
  readonly disconnect: boolean;
  /**
   * libuv reported an error condition (`POLLERR`, surfaced as status `UV_EBADF`): e.g. a refused connect.
   * The descriptor's next syscall (or `SO_ERROR`) tells what it is.
   */
  readonly error: boolean;
}

interface PollHandle {
  start(
    opts: { readable?: boolean; writable?: boolean; disconnect?: boolean },
    cb: (...args: unknown[]) => void,
  ): void;
  stop(): void;
  close(): void;
}

/**
 * One libuv poll handle on one descriptor.
 *
 * State machine: idle → `watch()` → armed → (event or `stop()`) → idle; `close()` from any state → closed.
 * Each `watch` fires its callback at most once (the handle is stopped before the callback runs), so a
 * level-triggered descriptor never loops.
 *
 * @example
 * ```ts
 * const watcher = new FdWatcher(fd);
 * watcher.watch({ readable: true }, (events) => { watcher.close(); });
 * ```
 */
export class FdWatcher {
  readonly #handle: PollHandle;
  #closed = false;

  /**
   * @param fd - A non-blocking socket descriptor.
   * @throws {RedirectError} `REDIRECT_ERR_NATIVE_UNAVAILABLE` when koffi cannot poll on this platform.
   */
  constructor(fd: number) {
    const { koffi } = libc();
    const poll = (koffi as unknown as { node?: { poll?: (fd: number, cb: () => void) => PollHandle } }).node
      ?.poll;
    if (poll === undefined) {
      throw new RedirectError(
        'REDIRECT_ERR_NATIVE_UNAVAILABLE',
        'this koffi build has no node.poll (needs koffi >= 2.15)',
      );
    }
    // Created with a no-op callback, then stopped: `watch` arms it with the real interest.
    this.#handle = poll(fd, () => {});
    this.#handle.stop();
  }

  /**
   * Arms the handle. The callback runs once, with what happened; on an error condition (`events.error`)
   * the caller retries its syscall to learn the actual error.
   *
   * @param interest - Which readiness to wait for.
   * @param callback - Called once.
   */
  watch(
    interest: { readonly readable?: boolean; readonly writable?: boolean },
    callback: (events: FdEvents) => void,
  ): void {
    if (this.#closed) throw new TypeError('FdWatcher is closed');
    this.#handle.start({ ...interest, disconnect: true }, (status: unknown, events: unknown) => {
      this.#handle.stop();
      const ev = (events ?? {}) as Partial<FdEvents>;
      callback({
        readable: ev.readable === true,
        writable: ev.writable === true,
        disconnect: ev.disconnect === true,
        error: typeof status === 'number' && status < 0,
      });
    });
  }

  /** Disarms (a pending `watch` callback will not run). */
  stop(): void {
    if (!this.#closed) this.#handle.stop();
  }

  /** Releases the handle (idempotent). Does not close the descriptor. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handle.close();
  }
}

/**
 * Waits once for a descriptor to become readable or writable.
 *
 * @param fd - A non-blocking descriptor.
 * @param interest - What to wait for.
 * @param options - `timeoutMs` (reject with `REDIRECT_ERR_CONNECT_TIMEOUT`), `signal` (reject with
 * `REDIRECT_ERR_ABORTED`) and `what` (names the operation in those errors).
 * @returns The events (an error condition resolves too: the caller's next syscall reports it).
 * @example
 * ```ts
 * await waitForFd(fd, { writable: true }, { timeoutMs: 10_000, what: 'connect' });
 * ```
 */
export function waitForFd(
  fd: number,
  interest: { readonly readable?: boolean; readonly writable?: boolean },
  options: { readonly timeoutMs: number; readonly signal?: AbortSignal | undefined; readonly what: string },
): Promise<FdEvents> {
  const { signal } = options;
  if (signal?.aborted) {
    return Promise.reject(
      new RedirectError('REDIRECT_ERR_ABORTED', `${options.what}: aborted`, { cause: signal.reason }),
    );
  }
  return new Promise((resolve, reject) => {
    const watcher = new FdWatcher(fd);
    const finish = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      watcher.close();
    };
    const timer = setTimeout(() => {
      finish();
      reject(
        new RedirectError(
          'REDIRECT_ERR_CONNECT_TIMEOUT',
          `${options.what}: no answer within ${options.timeoutMs} ms`,
        ),
      );
    }, options.timeoutMs);
    const onAbort = (): void => {
      finish();
      reject(
        new RedirectError('REDIRECT_ERR_ABORTED', `${options.what}: aborted`, { cause: signal?.reason }),
      );
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    watcher.watch(interest, (events) => {
      finish();
      resolve(events);
    });
  });
}
