/**
 * Reads a PROXY protocol v2 header off the start of a Node stream, for the receiving end of an application
 * tunnel (a sandwiched waypoint; `docs/hbone.md` "PROXY protocol v2").
 * @module
 */
import type { Readable } from 'node:stream';
import { HboneError } from './codec/errors.js';
import type { ProxyV2Header } from './codec/proxy-v2.js';
import { createProxyV2Decoder } from './codec/proxy-v2-decode.js';

/** Options of {@link readProxyV2Header}. */
export interface ReadProxyV2Options {
  /** The largest header accepted. Default 4096 bytes. */
  readonly maxHeaderBytes?: number;
  /** Give up when the header is not complete in time. Default 10 s. */
  readonly timeoutMs?: number;
  /** Abort the read. */
  readonly signal?: AbortSignal;
}

/**
 * Consumes a PROXY v2 header from `stream` and puts the bytes after it back (`unshift`), so the stream then
 * reads as the plain payload. Never buffers more than the header.
 *
 * @param stream - A readable at the start of a connection, e.g. an accepted `net.Socket`.
 * @param options - Cap, timeout and signal.
 * @returns The header.
 * @throws {HboneError} A decode error (`HBONE_ERR_PROXY_V2_*`), `HBONE_ERR_PROXY_V2_TRUNCATED` when the stream
 *   ends first, or on timeout, `HBONE_ERR_ABORTED`.
 * @example
 * ```ts
 * net.createServer(async (socket) => {
 *   const header = await readProxyV2Header(socket);
 *   console.log(header.source, header.sourceIdentity); // the HBONE client and its SPIFFE ID
 *   socket.pipe(socket);
 * });
 * ```
 */
export function readProxyV2Header(
  stream: Readable,
  options: ReadProxyV2Options = {},
): Promise<ProxyV2Header> {
  const decoder = createProxyV2Decoder(
    options.maxHeaderBytes === undefined ? undefined : { maxHeaderBytes: options.maxHeaderBytes },
  );
  const timeoutMs = options.timeoutMs ?? 10_000;
  return new Promise<ProxyV2Header>((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      stream.removeListener('readable', onReadable);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      options.signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onEnd = (): void =>
      fail(
        new HboneError(
          'HBONE_ERR_PROXY_V2_TRUNCATED',
          'the stream ended before the PROXY v2 header was complete',
        ),
      );
    const onError = (error: Error): void => fail(error);
    const onAbort = (): void =>
      fail(new HboneError('HBONE_ERR_ABORTED', 'reading the PROXY v2 header was aborted'));
    const onReadable = (): void => {
      for (;;) {
        const chunk = stream.read() as Buffer | null;
        if (chunk === null) return;
        const step = decoder.push(chunk);
        if (step.isErr()) {
          fail(step.error);
          return;
        }
        if (step.value.done) {
          cleanup();
          if (step.value.rest.length > 0) stream.unshift(step.value.rest);
          resolve(step.value.header);
          return;
        }
      }
    };
    const timer = setTimeout(
      () =>
        fail(
          new HboneError(
            'HBONE_ERR_PROXY_V2_TRUNCATED',
            `no complete PROXY v2 header within ${timeoutMs} ms`,
          ),
        ),
      timeoutMs,
    );
    timer.unref();
    if (options.signal?.aborted) {
      onAbort();
      return;
    }
    options.signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', onError);
    onReadable();
  });
}
