/**
 * One inbound CONNECT, in ztunnel's order (istio/ztunnel@62d82653:src/proxy/inbound.rs
 * `build_inbound_request`, `serve_connect`): method and request shape (400), `:authority` (400), destination
 * IP (400), illegal port (503), a hostname looked up in the caller's registry (503), policy (401), the
 * upstream connect (503), and only then 200 and the bytes. Refusals are a HEADERS frame with END_STREAM and
 * no body, then RST_STREAM NO_ERROR so the client stops sending a request nobody reads (RFC 9113 §8.1).
 * @module
 */
import type { Duplex } from 'node:stream';
import { bridge } from './bridge.js';
import { formatAuthority, type HboneAddress } from './codec/authority.js';
import { parseConnectRequest } from './codec/connect-request.js';
import { buildConnectResponse } from './codec/connect-response.js';
import { HboneError } from './codec/errors.js';
import { H2_ERROR } from './codec/h2-constants.js';
import type { H2HeaderMap } from './codec/h2-header-fields.js';
import { checkTarget } from './codec/target.js';
import type { HboneRequestContext } from './context.js';
import { type HboneStreamEvent, publish } from './diagnostics.js';
import type { H2Stream } from './h2-stream.js';
import { abortError } from './pool.js';
import type { ServerConnectionInfo, ServerState } from './server-state.js';
import { currentIdentity } from './tls.js';

function responseFields(headers: Record<string, string | number>): [string, string][] {
  return Object.entries(headers).map(([name, value]) => [name, String(value)]);
}

// The answer of (almost) every tunnel: 200 without baggage.
const OK_FIELDS: readonly (readonly [string, string])[] = responseFields(
  buildConnectResponse({ status: 200 }),
);

/** Answers with an error status and closes the stream (END_STREAM on HEADERS, then RST_STREAM NO_ERROR). */
function answerRefusal(stream: H2Stream, status: number): void {
  if (stream.closed) return;
  stream.respond(responseFields(buildConnectResponse({ status })), true);
  if (!stream.closed) stream.reset(H2_ERROR.NO_ERROR);
}

/**
 * Answers a request whose header list is over SETTINGS_MAX_HEADER_LIST_SIZE with 431 (RFC 9113 §10.5.1).
 *
 * @param state - The server.
 * @param stream - The refused stream.
 * @example
 * ```ts
 * events.onOversizeRequest = (stream) => refuseOversize(state, stream);
 * ```
 */
export function refuseOversize<State extends object>(state: ServerState<State>, stream: H2Stream): void {
  state.counters.refused[431] = (state.counters.refused[431] ?? 0) + 1;
  answerRefusal(stream, 431);
}

/**
 * Serves one CONNECT stream to the end of its tunnel.
 *
 * @param state - The server.
 * @param stream - The new stream.
 * @param headers - Its request headers (well-formed HTTP/2).
 * @param connection - The connection it came on.
 * @returns Resolves when the tunnel (or the refusal) is done.
 * @example
 * ```ts
 * events.onStream = (stream, headers) => void serveConnect(state, stream, headers, info);
 * ```
 */
export async function serveConnect<State extends object>(
  state: ServerState<State>,
  stream: H2Stream,
  headers: H2HeaderMap,
  connection: ServerConnectionInfo,
): Promise<void> {
  const config = state.config;
  const startedAt = performance.now();
  const authorityHeader = headers[':authority'];
  const event: HboneStreamEvent = {
    direction: 'inbound',
    connectionId: connection.id,
    streamId: stream.id,
    sourceAddress: connection.remote,
    sourceIdentity: connection.peerIdentity,
    destinationAddress: connection.local,
    destinationIdentity: currentIdentity(state.source),
    authority: typeof authorityHeader === 'string' ? authorityHeader : '',
  };
  const abort = new AbortController();
  state.aborts.add(abort);
  // Until the tunnel is up: keep what the client sends early (bounded by the stream window, which is not
  // handed back meanwhile), and abort the setup when the client resets or the connection goes.
  const early: Uint8Array[] = [];
  let earlyEnd = false;
  const onGone = (): void => abort.abort(new HboneError('HBONE_ERR_ABORTED', 'the client reset the CONNECT'));
  stream.setEvents({
    onHeaders: () => {},
    onData: (chunk) => early.push(chunk),
    onEnd: () => {
      earlyEnd = true;
    },
    onReset: onGone,
    onWritable: () => {},
    onClose: onGone,
  });

  const refuse = (error: HboneError): void => {
    state.aborts.delete(abort);
    const status = error.status ?? 503;
    state.counters.refused[status] = (state.counters.refused[status] ?? 0) + 1;
    answerRefusal(stream, status);
    publish('streamFailed', () => ({ ...event, error, durationMs: performance.now() - startedAt }));
  };

  const parsed = parseConnectRequest(headers);
  if (parsed.isErr()) return refuse(parsed.error);
  const request = parsed.value;
  const targetPolicy = {
    checkDestinationIp: config.checkDestinationIp,
    illegalPorts: config.illegalPorts,
    localIp: connection.localAddress,
  };
  const checked = checkTarget(request.authority, targetPolicy);
  if (checked.isErr()) return refuse(checked.error);
  const context: HboneRequestContext<State> = {
    peerIdentity: connection.peerIdentity,
    authority: request.authority,
    authorityText: formatAuthority(request.authority),
    request,
    headers,
    localAddress: connection.localAddress,
    localPort: connection.localPort,
    remoteAddress: connection.remoteAddress,
    remotePort: connection.remotePort,
    signal: abort.signal,
    state: {},
  };
  const requestEvent = request.baggage === undefined ? event : { ...event, requestBaggage: request.baggage };

  // A hostname (double HBONE) becomes an address only through the caller's registry, before policy, as
  // ztunnel finds the service first (503 when it does not know the name).
  let target: HboneAddress = checked.value;
  if (target.kind === 'hostname' && config.resolveHostname !== undefined) {
    let resolved: HboneAddress | undefined;
    try {
      resolved = await config.resolveHostname(target.hostname, target.port, context);
    } catch (error) {
      return refuse(unknownTarget(target, error));
    }
    if (resolved === undefined || resolved.kind !== 'socket') return refuse(unknownTarget(target, undefined));
    const again = checkTarget(resolved, targetPolicy);
    if (again.isErr()) return refuse(again.error);
    target = again.value;
  }

  if (config.authorize !== undefined) {
    let allowed = false;
    let cause: unknown;
    try {
      allowed = (await config.authorize(context)) === true;
    } catch (error) {
      cause = error;
    }
    if (!allowed) {
      return refuse(
        new HboneError(
          'HBONE_ERR_POLICY_DENIED',
          `${connection.peerIdentity} may not connect to ${context.authorityText}`,
          { cause },
        ),
      );
    }
  }
  if (abort.signal.aborted) return refuse(abortError(abort.signal));

  let upstream: Duplex;
  try {
    upstream = await (config.connectUpstream ?? state.connectUpstream)(target, context);
  } catch (error) {
    return refuse(upstreamError(error, target));
  }
  if (abort.signal.aborted || stream.closed) {
    upstream.destroy();
    return refuse(abortError(abort.signal));
  }
  state.aborts.delete(abort);

  // 200 only now that the upstream is connected (istio/ztunnel@62d82653:src/proxy/inbound.rs).
  const baggage =
    typeof config.options.baggage === 'function' ? config.options.baggage(context) : config.options.baggage;
  stream.respond(
    baggage === undefined ? OK_FIELDS : responseFields(buildConnectResponse({ status: 200, baggage })),
    false,
  );
  const openedEvent = (): HboneStreamEvent =>
    baggage === undefined ? requestEvent : { ...requestEvent, responseBaggage: baggage };
  publish('streamOpened', openedEvent);
  const tunnel = bridge(stream, upstream, { chunks: early, ended: earlyEnd });
  state.tunnels.add(tunnel);
  const close = await tunnel.done;
  state.tunnels.delete(tunnel);
  publish('streamClosed', () => ({
    ...openedEvent(),
    bytesSent: close.bytesSent,
    bytesReceived: close.bytesReceived,
    durationMs: performance.now() - startedAt,
    ...(close.error === undefined ? {} : { error: close.error }),
  }));
}

function unknownTarget(target: HboneAddress, cause: unknown): HboneError {
  return new HboneError(
    'HBONE_ERR_UNKNOWN_TARGET',
    `no service or workload for hostname ${formatAuthority(target)}`,
    {
      cause,
    },
  );
}

function upstreamError(error: unknown, target: HboneAddress): HboneError {
  if (error instanceof HboneError) {
    // A connector may refuse with its own reason; anything without a status is a 503.
    if (error.status !== undefined) return error;
    return new HboneError('HBONE_ERR_UPSTREAM_REFUSED', error.message, { cause: error, status: 503 });
  }
  return new HboneError(
    'HBONE_ERR_UPSTREAM_REFUSED',
    `upstream connect to ${formatAuthority(target)} failed: ${String(error)}`,
    { cause: error },
  );
}
