import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canReceive,
  canSend,
  type H2StreamEvent,
  type H2StreamState,
  nextStreamState,
} from './h2-stream-state.js';

describe('the stream state machine (RFC 9113 §5.1)', () => {
  it('walks a CONNECT tunnel: request, response, each side ends', () => {
    let state: H2StreamState = 'idle';
    for (const event of ['send-headers', 'recv-headers', 'send-end'] as const) {
      state = nextStreamState(state, event) as H2StreamState;
    }
    expect(state).toBe('half-closed-local');
    expect([canSend(state), canReceive(state)]).toEqual([false, true]);
    expect(nextStreamState(state, 'recv-end')).toBe('closed');
  });

  it('refuses what the RFC forbids: data after END_STREAM, anything on a closed or idle stream', () => {
    expect(nextStreamState('half-closed-remote', 'recv-end')).toBeUndefined();
    expect(nextStreamState('half-closed-local', 'send-end')).toBeUndefined();
    expect(nextStreamState('closed', 'recv-headers')).toBeUndefined();
    expect(nextStreamState('idle', 'recv-end')).toBeUndefined();
    expect(nextStreamState('idle', 'recv-reset')).toBeUndefined();
  });

  it('a reset closes any open stream; closed is final', () => {
    const events: H2StreamEvent[] = [
      'send-headers',
      'send-headers-end',
      'recv-headers',
      'recv-headers-end',
      'send-end',
      'recv-end',
      'send-reset',
      'recv-reset',
    ];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...events), { maxLength: 12 }), (sequence) => {
        let state: H2StreamState = 'idle';
        for (const event of sequence) {
          const next = nextStreamState(state, event);
          if (state === 'closed') expect(next).toBeUndefined();
          const reset = event === 'send-reset' || event === 'recv-reset';
          if (reset && state !== 'idle' && state !== 'closed') expect(next).toBe('closed');
          if (next !== undefined) state = next;
        }
      }),
    );
  });
});
