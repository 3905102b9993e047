/**
 * A minimal typed listener registry for the xDS client and server events. A throwing listener is
 * isolated: it cannot break the stream that emitted the event.
 * @module
 */

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
        } catch (e) {
          // Report the listener bug without unwinding the protocol code that emitted the event.
          process.emitWarning(
            `${String(event)} listener threw: ${e instanceof Error ? e.message : String(e)}`,
            {
              code: 'AMBIENT_KIT_LISTENER',
            },
          );
        }
      }
    },
  };
}
