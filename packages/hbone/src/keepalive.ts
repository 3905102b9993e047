/**
 * HTTP/2 PING liveness as ztunnel does it on both ends (hbone.md §1.5, checklist H7): a PING every
 * `intervalMs` (first one after `intervalMs`), sent even while DATA flows, and the connection dropped when a
 * PING goes unanswered for `timeoutMs` (`zt:src/proxy/h2.rs` L31-76).
 * @module
 */
import type { Http2Session } from 'node:http2';

/** Keepalive settings. */
export interface KeepaliveOptions {
  /** Time between PINGs. ztunnel: 10 s. */
  readonly intervalMs: number;
  /** How long a PING may go unanswered. ztunnel: 20 s. */
  readonly timeoutMs: number;
  /** Called once when a PING times out; the caller drops the connection. */
  readonly onTimeout: () => void;
}

/**
 * Starts pinging `session`. The timers are unref'd and stop on their own when the session closes.
 *
 * @param session - A connected session.
 * @param options - Interval, timeout and what to do on timeout.
 * @returns A function that stops the keepalive.
 *
 * @example
 * ```ts
 * const stop = startKeepalive(session, { intervalMs: 10_000, timeoutMs: 20_000, onTimeout: () => session.destroy() });
 * ```
 */
export function startKeepalive(session: Http2Session, options: KeepaliveOptions): () => void {
  let timeout: NodeJS.Timeout | undefined;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
    clearInterval(interval);
    if (timeout !== undefined) clearTimeout(timeout);
  };
  const interval = setInterval(() => {
    if (stopped || session.destroyed || session.closed) return stop();
    // One PING in flight at a time; its own timer decides the timeout.
    if (timeout !== undefined) return;
    timeout = setTimeout(() => {
      if (stopped) return;
      stop();
      options.onTimeout();
    }, options.timeoutMs);
    timeout.unref();
    let sent = false;
    try {
      sent = session.ping((error) => {
        if (error !== null) return; // The session is going away; 'close' ends the keepalive.
        if (timeout !== undefined) clearTimeout(timeout);
        timeout = undefined;
      });
    } catch {
      // ERR_HTTP2_INVALID_SESSION: closed between the check and the call.
    }
    if (!sent) {
      if (timeout !== undefined) clearTimeout(timeout);
      timeout = undefined;
    }
  }, options.intervalMs);
  interval.unref();
  session.once('close', stop);
  return stop;
}
