/**
 * The HTTP/2 stream state machine (RFC 9113 §5.1), for streams without push: idle → open → half-closed
 * (local or remote) → closed, with RST_STREAM closing from anywhere. Pure: a state and an event in, the
 * next state out, or `undefined` when the event is not allowed in that state.
 * @module
 */

/** A stream's state (RFC 9113 §5.1; `reserved` states are never entered: push is off). */
export type H2StreamState = 'idle' | 'open' | 'half-closed-local' | 'half-closed-remote' | 'closed';

/** What happens to a stream. */
export type H2StreamEvent =
  | 'send-headers'
  | 'send-headers-end'
  | 'recv-headers'
  | 'recv-headers-end'
  | 'send-end'
  | 'recv-end'
  | 'send-reset'
  | 'recv-reset';

/**
 * The state after `event`.
 *
 * @param state - The current state.
 * @param event - What happened: HEADERS (with or without END_STREAM), END_STREAM on DATA, or RST_STREAM,
 *   sent or received.
 * @returns The next state, or `undefined` when RFC 9113 §5.1 does not allow the event in `state` (a frame
 *   the peer should not have sent: the caller decides between a stream and a connection error).
 * @example
 * ```ts
 * nextStreamState('idle', 'recv-headers'); // 'open'
 * nextStreamState('open', 'recv-end'); // 'half-closed-remote'
 * nextStreamState('half-closed-remote', 'recv-end'); // undefined: STREAM_CLOSED
 * ```
 */
export function nextStreamState(state: H2StreamState, event: H2StreamEvent): H2StreamState | undefined {
  if (event === 'send-reset' || event === 'recv-reset') {
    return state === 'idle' || state === 'closed' ? undefined : 'closed';
  }
  switch (state) {
    case 'idle':
      if (event === 'send-headers' || event === 'recv-headers') return 'open';
      if (event === 'send-headers-end') return 'half-closed-local';
      if (event === 'recv-headers-end') return 'half-closed-remote';
      return undefined;
    case 'open':
      // Later HEADERS (a response after a request, trailers) keep the stream where it is.
      if (event === 'send-headers' || event === 'recv-headers') return 'open';
      if (event === 'send-end' || event === 'send-headers-end') return 'half-closed-local';
      if (event === 'recv-end' || event === 'recv-headers-end') return 'half-closed-remote';
      return undefined;
    case 'half-closed-local':
      if (event === 'recv-headers') return 'half-closed-local';
      if (event === 'recv-end' || event === 'recv-headers-end') return 'closed';
      return undefined;
    case 'half-closed-remote':
      if (event === 'send-headers') return 'half-closed-remote';
      if (event === 'send-end' || event === 'send-headers-end') return 'closed';
      return undefined;
    case 'closed':
      return undefined;
  }
}

/**
 * Whether the peer may still send DATA on a stream in `state`.
 *
 * @param state - The stream's state.
 * @returns `true` for `open` and `half-closed-local`.
 * @example
 * ```ts
 * canReceive('half-closed-remote'); // false: a DATA frame now is STREAM_CLOSED
 * ```
 */
export function canReceive(state: H2StreamState): boolean {
  return state === 'open' || state === 'half-closed-local';
}

/**
 * Whether we may still send DATA on a stream in `state`.
 *
 * @param state - The stream's state.
 * @returns `true` for `open` and `half-closed-remote`.
 * @example
 * ```ts
 * canSend('half-closed-local'); // false: END_STREAM already went out
 * ```
 */
export function canSend(state: H2StreamState): boolean {
  return state === 'open' || state === 'half-closed-remote';
}
