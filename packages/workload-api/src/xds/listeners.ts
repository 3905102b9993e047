/**
 * A minimal typed listener registry for the per-instance hook of the xDS client (`XdsClient.on`). A
 * throwing listener is isolated: it cannot break the stream that emitted the event; the error goes to the
 * `listener-error` diagnostics channel and the debug log, never to stderr.
 * @module
 */
import { debug, publish } from './diagnostics.js';

/** Event name -> payload. */
export type EventMap = object;

/** Subscribe with `on`, emit with `emit`. */
export interface Listeners<M extends EventMap> {
  on<E extends keyof M>(event: E, listener: (payload: M[E]) => void): () => void;
  emit<E extends keyof M>(event: E, payload: M[E]): void;
}

/**
 * Creates an empty registry.
 *
 * @returns The registry.
 * @example
 * ```ts
 * const l = createListeners<{ tick: number }>();
 * l.on('tick', (n) => console.log(n));
 * l.emit('tick', 1);
 * ```
 */
export function createListeners<M extends EventMap>(): Listeners<M> {
  const map = new Map<keyof M, Set<(payload: never) => void>>();
  return {
    on(event, listener) {
      let set = map.get(event);
      if (set === undefined) {
        set = new Set();
        map.set(event, set);
      }
      set.add(listener as (payload: never) => void);
      return () => set.delete(listener as (payload: never) => void);
    },
    emit(event, payload) {
      for (const fn of map.get(event) ?? []) {
        try {
          (fn as (p: typeof payload) => void)(payload);
        } catch (error) {
          // Report the listener bug without unwinding the protocol code that emitted the event.
          debug(
            '%s listener threw: %s',
            String(event),
            error instanceof Error ? error.message : String(error),
          );
          publish('listenerError', () => ({ event: `xds-client:${String(event)}`, error }));
        }
      }
    },
  };
}
