/**
 * `SOCK_SEQPACKET` unix sockets with `SCM_RIGHTS` descriptor passing: the ZDS transport (istio-cni `net.ListenUnix("unixpacket", …)` + `WriteMsgUnix(…, unix.UnixRights(fd))`, ztunnel
 * istio/ztunnel@62d82653:src/inpod/packet.rs + protocol.rs). Node's `net` has neither, so the syscalls go
 * through koffi and readiness comes from libuv (`FdWatcher`): non-blocking descriptors, no thread parked, no
 * polling loop.
 *
 * Each `sendmsg` is one datagram, delivered whole or not at all, with its descriptors. Each `recvmsg`
 * reads one datagram into a fixed buffer; `MSG_TRUNC`/`MSG_CTRUNC` (too big, too many descriptors) are
 * reported, never silently cut. Received descriptors carry `O_CLOEXEC` (`MSG_CMSG_CLOEXEC`, as ztunnel).
 */
import { RedirectError } from '../codec/errors.js';
import { encodeUnixSockaddr, SOCKADDR } from '../codec/sockaddr.js';
import { FdWatcher } from './fd-watcher.js';
import { LINUX, libc } from './libc.js';
import { closeQuietly, openSocket } from './raw-socket.js';

/** `CMSG_SPACE(n * sizeof(int))` on LP64 Linux: 16-byte header, data padded to 8. */
const cmsgSpace = (fds: number): number => 16 + Math.ceil((fds * 4) / 8) * 8;
/** Descriptors we can receive in one datagram; more shows up as `MSG_CTRUNC`. */
const MAX_RECEIVED_FDS = 8;

/**
 * One received datagram.
 *
 * @example
 * ```ts
 * const { data, fds, truncated } = await socket.receive();
 * ```
 */
export interface SeqpacketMessage {
  /** The payload (a copy). Empty means the peer closed. */
  readonly data: Uint8Array;
  /** Descriptors that came with it (owned by the caller: close them). */
  readonly fds: readonly number[];
  /** `MSG_TRUNC`: the datagram was larger than the buffer. */
  readonly truncated: boolean;
  /** `MSG_CTRUNC`: descriptors were dropped for lack of control space. */
  readonly controlTruncated: boolean;
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
}

interface NativeBuffers {
  readonly data: bigint;
  readonly control: bigint;
  readonly iov: bigint;
  readonly msg: bigint;
  /** Views of `data` and `control`, made once: native memory doesn't move. */
  readonly dataView: Uint8Array;
  readonly controlView: DataView;
}

function allocate(dataBytes: number, controlBytes: number): NativeBuffers {
  const c = libc();
  const { koffi } = c;
  const data = koffi.alloc('uint8_t', dataBytes) as bigint;
  const control = koffi.alloc('uint8_t', controlBytes) as bigint;
  return {
    data,
    control,
    iov: koffi.alloc(c.iovec as never, 1) as bigint,
    msg: koffi.alloc(c.msghdr as never, 1) as bigint,
    dataView: new Uint8Array(koffi.view(data, dataBytes)),
    controlView: new DataView(koffi.view(control, controlBytes)),
  };
}

function release(buffers: NativeBuffers): void {
  const { koffi } = libc();
  for (const pointer of [buffers.data, buffers.control, buffers.iov, buffers.msg]) koffi.free(pointer);
}

/**
 * A connected `SOCK_SEQPACKET` socket.
 *
 * State machine: open → (peer EOF seen by `receive`, or `close()`) → closed. One `receive` at a time;
 * sends are queued and go out in call order.
 *
 * @example
 * ```ts
 * const socket = SeqpacketSocket.connect('/var/run/ztunnel/ztunnel.sock');
 * await socket.send(bytes, [netns.fd]);
 * const reply = await socket.receive();
 * ```
 */
export class SeqpacketSocket {
  readonly #fd: number;
  readonly #maxMessageBytes: number;
  readonly #watcher: FdWatcher;
  readonly #recv: NativeBuffers;
  readonly #send: NativeBuffers;
  #closed = false;
  #reading = false;
  #sendChain: Promise<void> = Promise.resolve();
  #waiters: { readable?: Waiter | undefined; writable?: Waiter | undefined } = {};

  /**
   * Wraps a connected, non-blocking descriptor (from `connect` or `SeqpacketServer.accept`).
   *
   * @param fd - The descriptor; the socket owns it.
   * @param maxMessageBytes - Receive buffer, and the largest datagram `send` accepts.
   */
  constructor(fd: number, maxMessageBytes: number) {
    this.#fd = fd;
    this.#maxMessageBytes = maxMessageBytes;
    this.#watcher = new FdWatcher(fd);
    this.#recv = allocate(maxMessageBytes, cmsgSpace(MAX_RECEIVED_FDS));
    this.#send = allocate(maxMessageBytes, cmsgSpace(MAX_RECEIVED_FDS));
  }

  /**
   * Connects to a listening `SOCK_SEQPACKET` socket.
   *
   * @param path - Filesystem path of the socket.
   * @param options - Receive buffer size (default 1024, ztunnel's).
   * @returns The connected socket.
   * @throws {RedirectError} `REDIRECT_ERR_CONNECT` (no listener, refused), `REDIRECT_ERR_SOCKET`.
   */
  static connect(path: string, options: { readonly maxMessageBytes?: number } = {}): SeqpacketSocket {
    const c = libc();
    const fd = openSocket(SOCKADDR.afUnix, LINUX.SOCK_SEQPACKET, undefined);
    const address = encodeUnixSockaddr(path);
    // A unix-domain connect completes (or fails) at once; EAGAIN would mean a full backlog.
    if (c.connect(fd, address, address.length) !== 0) {
      const code = c.errnoName();
      closeQuietly(fd);
      throw new RedirectError('REDIRECT_ERR_CONNECT', `connect ${path}: ${code}`);
    }
    return new SeqpacketSocket(fd, options.maxMessageBytes ?? 1024);
  }

  #arm(): void {
    if (this.#closed) return;
    const readable = this.#waiters.readable !== undefined;
    const writable = this.#waiters.writable !== undefined;
    if (!readable && !writable) {
      this.#watcher.stop();
      return;
    }
    this.#watcher.watch({ readable, writable }, (events) => {
      const { readable: reader, writable: writer } = this.#waiters;
      // Readiness, a hang-up or an error condition wakes the matching waiter; it retries its syscall,
      // which reports the actual outcome.
      if (reader !== undefined && (events.readable || events.disconnect || events.error)) {
        this.#waiters = { ...this.#waiters, readable: undefined };
        reader.resolve();
      }
      if (writer !== undefined && (events.writable || events.disconnect || events.error)) {
        this.#waiters = { ...this.#waiters, writable: undefined };
        writer.resolve();
      }
      this.#arm();
    });
  }

  #wait(kind: 'readable' | 'writable'): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiters = { ...this.#waiters, [kind]: { resolve, reject } };
      this.#arm();
    });
  }

  /**
   * Sends one datagram, with descriptors attached as `SCM_RIGHTS` (the receiver gets duplicates; ours
   * stay open).
   *
   * @param data - Payload, at most `maxMessageBytes`.
   * @param fds - Descriptors to pass.
   * @throws {RedirectError} `REDIRECT_ERR_ZDS_CLOSED` (socket closed, `EPIPE`), `REDIRECT_ERR_SOCKET`.
   * @throws {RangeError} When `data` is larger than `maxMessageBytes`.
   */
  send(data: Uint8Array, fds: readonly number[] = []): Promise<void> {
    if (data.length > this.#maxMessageBytes) {
      throw new RangeError(
        `datagram of ${data.length} bytes is over the ${this.#maxMessageBytes}-byte limit`,
      );
    }
    if (fds.length > MAX_RECEIVED_FDS)
      throw new RangeError(`at most ${MAX_RECEIVED_FDS} descriptors per datagram`);
    const next = this.#sendChain.then(() => this.#sendNow(data, fds));
    this.#sendChain = next.catch(() => {});
    return next;
  }

  async #sendNow(data: Uint8Array, fds: readonly number[]): Promise<void> {
    const c = libc();
    const { koffi } = c;
    for (;;) {
      if (this.#closed) throw new RedirectError('REDIRECT_ERR_ZDS_CLOSED', 'send on a closed ZDS socket');
      this.#send.dataView.set(data);
      let controlBytes = 0;
      if (fds.length > 0) {
        controlBytes = cmsgSpace(fds.length);
        const control = this.#send.controlView;
        new Uint8Array(control.buffer, 0, controlBytes).fill(0);
        control.setBigUint64(0, BigInt(16 + fds.length * 4), true); // CMSG_LEN
        control.setInt32(8, LINUX.SOL_SOCKET, true);
        control.setInt32(12, LINUX.SCM_RIGHTS, true);
        for (const [i, fd] of fds.entries()) control.setInt32(16 + i * 4, fd, true);
      }
      koffi.encode(this.#send.iov, c.iovec as never, { iov_base: this.#send.data, iov_len: data.length });
      koffi.encode(this.#send.msg, c.msghdr as never, {
        msg_name: null,
        msg_namelen: 0,
        msg_iov: this.#send.iov,
        msg_iovlen: 1,
        msg_control: controlBytes === 0 ? null : this.#send.control,
        msg_controllen: controlBytes,
        msg_flags: 0,
      });
      const sent = c.sendmsg(this.#fd, this.#send.msg, LINUX.MSG_NOSIGNAL | LINUX.MSG_DONTWAIT);
      if (sent >= 0) return;
      const code = c.errnoName();
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK') {
        await this.#wait('writable');
        continue;
      }
      if (code === 'EINTR') continue;
      if (code === 'EPIPE' || code === 'ECONNRESET' || code === 'ENOTCONN') {
        throw new RedirectError('REDIRECT_ERR_ZDS_CLOSED', `ZDS peer closed the connection (${code})`);
      }
      throw new RedirectError('REDIRECT_ERR_SOCKET', `sendmsg: ${code}`);
    }
  }

  /**
   * Receives the next datagram. An empty `data` means the peer closed (the socket is then closed).
   *
   * @returns The datagram and any descriptors.
   * @throws {RedirectError} `REDIRECT_ERR_ZDS_CLOSED` when the socket is closed, `REDIRECT_ERR_SOCKET`.
   * @throws {TypeError} When another `receive` is pending.
   */
  async receive(): Promise<SeqpacketMessage> {
    if (this.#reading) throw new TypeError('SeqpacketSocket: one receive at a time');
    this.#reading = true;
    try {
      for (;;) {
        if (this.#closed)
          throw new RedirectError('REDIRECT_ERR_ZDS_CLOSED', 'receive on a closed ZDS socket');
        const message = this.#tryReceive();
        if (message !== undefined) {
          if (message.data.length === 0 && message.fds.length === 0) this.close();
          return message;
        }
        await this.#wait('readable');
      }
    } finally {
      this.#reading = false;
    }
  }

  #tryReceive(): SeqpacketMessage | undefined {
    const c = libc();
    const { koffi } = c;
    const controlBytes = cmsgSpace(MAX_RECEIVED_FDS);
    koffi.encode(this.#recv.iov, c.iovec as never, {
      iov_base: this.#recv.data,
      iov_len: this.#maxMessageBytes,
    });
    koffi.encode(this.#recv.msg, c.msghdr as never, {
      msg_name: null,
      msg_namelen: 0,
      msg_iov: this.#recv.iov,
      msg_iovlen: 1,
      msg_control: this.#recv.control,
      msg_controllen: controlBytes,
      msg_flags: 0,
    });
    const n = c.recvmsg(this.#fd, this.#recv.msg, LINUX.MSG_DONTWAIT | LINUX.MSG_CMSG_CLOEXEC);
    if (n < 0) {
      const code = c.errnoName();
      if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') return undefined;
      if (code === 'ECONNRESET')
        return { data: new Uint8Array(0), fds: [], truncated: false, controlTruncated: false };
      throw new RedirectError('REDIRECT_ERR_SOCKET', `recvmsg: ${code}`);
    }
    const header = koffi.decode(this.#recv.msg, c.msghdr as never) as {
      msg_controllen: number;
      msg_flags: number;
    };
    const fds: number[] = [];
    const control = this.#recv.controlView;
    // Walk the cmsghdr chain (CMSG_FIRSTHDR/CMSG_NXTHDR).
    for (let offset = 0; offset + 16 <= header.msg_controllen; ) {
      const length = Number(control.getBigUint64(offset, true));
      if (length < 16 || offset + length > controlBytes) break;
      if (
        control.getInt32(offset + 8, true) === LINUX.SOL_SOCKET &&
        control.getInt32(offset + 12, true) === LINUX.SCM_RIGHTS
      ) {
        for (let at = offset + 16; at + 4 <= offset + length; at += 4) fds.push(control.getInt32(at, true));
      }
      offset += Math.ceil(length / 8) * 8;
    }
    const bytes = Math.min(n, this.#maxMessageBytes);
    return {
      data: this.#recv.dataView.slice(0, bytes),
      fds,
      truncated: (header.msg_flags & LINUX.MSG_TRUNC) !== 0,
      controlTruncated: (header.msg_flags & LINUX.MSG_CTRUNC) !== 0,
    };
  }

  /** Closes the socket (idempotent); pending operations reject with `REDIRECT_ERR_ZDS_CLOSED`. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const waiters = this.#waiters;
    this.#waiters = {};
    this.#watcher.close();
    closeQuietly(this.#fd);
    release(this.#recv);
    release(this.#send);
    const closed = new RedirectError('REDIRECT_ERR_ZDS_CLOSED', 'ZDS socket closed');
    waiters.readable?.reject(closed);
    waiters.writable?.reject(closed);
  }
}

/**
 * A listening `SOCK_SEQPACKET` socket at a filesystem path.
 *
 * @example
 * ```ts
 * const server = SeqpacketServer.listen('/var/run/ztunnel/ztunnel.sock');
 * const socket = await server.accept();
 * ```
 */
export class SeqpacketServer {
  readonly #fd: number;
  readonly #path: string;
  readonly #maxMessageBytes: number;
  readonly #watcher: FdWatcher;
  #closed = false;
  #pending: { resolve: (s: SeqpacketSocket) => void; reject: (e: Error) => void } | undefined;

  private constructor(fd: number, path: string, maxMessageBytes: number) {
    this.#fd = fd;
    this.#path = path;
    this.#maxMessageBytes = maxMessageBytes;
    this.#watcher = new FdWatcher(fd);
  }

  /**
   * Binds and listens, replacing a stale socket file at `path` (istio-cni does the same).
   *
   * @param path - Where to create the socket.
   * @param options - Receive buffer of accepted sockets (default 1024), listen backlog (default 16).
   * @returns The server.
   * @throws {RedirectError} `REDIRECT_ERR_SOCKET` (bind/listen failures, e.g. `EACCES`).
   */
  static listen(
    path: string,
    options: { readonly maxMessageBytes?: number; readonly backlog?: number } = {},
  ): SeqpacketServer {
    const c = libc();
    const address = encodeUnixSockaddr(path);
    c.unlink(path);
    const fd = openSocket(SOCKADDR.afUnix, LINUX.SOCK_SEQPACKET, undefined);
    if (c.bind(fd, address, address.length) !== 0 || c.listen(fd, options.backlog ?? 16) !== 0) {
      const code = c.errnoName();
      closeQuietly(fd);
      throw new RedirectError('REDIRECT_ERR_SOCKET', `listen on ${path}: ${code}`);
    }
    return new SeqpacketServer(fd, path, options.maxMessageBytes ?? 1024);
  }

  /**
   * Waits for the next connection.
   *
   * @returns The accepted socket.
   * @throws {RedirectError} `REDIRECT_ERR_ZDS_CLOSED` once the server is closed.
   */
  accept(): Promise<SeqpacketSocket> {
    if (this.#pending !== undefined)
      return Promise.reject(new TypeError('SeqpacketServer: one accept at a time'));
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#tryAccept();
    });
  }

  #tryAccept(): void {
    const pending = this.#pending;
    if (pending === undefined) return;
    if (this.#closed) {
      this.#pending = undefined;
      pending.reject(new RedirectError('REDIRECT_ERR_ZDS_CLOSED', 'ZDS server closed'));
      return;
    }
    const c = libc();
    const fd = c.accept4(this.#fd, LINUX.SOCK_NONBLOCK | LINUX.SOCK_CLOEXEC);
    if (fd >= 0) {
      this.#pending = undefined;
      pending.resolve(new SeqpacketSocket(fd, this.#maxMessageBytes));
      return;
    }
    const code = c.errnoName();
    if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR' || code === 'ECONNABORTED') {
      this.#watcher.watch({ readable: true }, () => this.#tryAccept());
      return;
    }
    this.#pending = undefined;
    pending.reject(new RedirectError('REDIRECT_ERR_SOCKET', `accept on ${this.#path}: ${code}`));
  }

  /** Stops listening, removes the socket file, rejects a pending `accept` (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watcher.close();
    closeQuietly(this.#fd);
    libc().unlink(this.#path);
    this.#tryAccept();
  }
}
