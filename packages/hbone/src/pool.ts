/**
 * The client connection pool, as ztunnel's (istio/ztunnel@62d82653:src/proxy/pool.rs; `docs/hbone.md` "Pooling").
 *
 * - Key = (source identity, expected destination identities, destination address, source IP).
 * - A connection takes at most min(100, the server's SETTINGS_MAX_CONCURRENT_STREAMS) streams; the next
 *   stream for the key opens another connection.
 * - One dial per key at a time: N concurrent first connects share one TLS handshake ("don't open 1000
 *   tunnels for 1000 simultaneous connects"); a failed dial fails everyone who waited on it.
 * - A GOAWAY'd or broken connection leaves the pool at once and is never reused.
 * - A connection without streams for `idleTimeoutMs` (5 min) is closed. Unlike ztunnel, which drops a
 *   connection from its pool 5 minutes after the last checkout even when streams are still open on it, a
 *   connection carrying streams stays pooled here and keeps taking new ones.
 * @module
 */

import type { ClientConnection } from './client-connection.js';
import type { HboneClock } from './clock.js';
import { HboneError } from './codec/errors.js';

/** The identity of a pooled connection (`istio/ztunnel@62d82653:src/proxy/h2/client.rs` `WorkloadKey`). */
export interface HbonePoolKey {
  /** The client's own SPIFFE ID. */
  readonly sourceIdentity: string;
  /** The identities the server may present, sorted and deduplicated (a set, not a list). */
  readonly destinationIdentities: readonly string[];
  /** The HBONE hop, `ip:port`. */
  readonly destinationAddress: string;
  /** The local IP the connection is bound to; `undefined` lets the OS pick. */
  readonly sourceIp: string | undefined;
}

/** Counts describing the pool at this instant (on the pool's clock: idle connections past due are gone). */
export interface HbonePoolStats {
  /** Pooled connections: ready for new streams or at their stream limit. */
  readonly connections: number;
  /** Pooled connections with no stream open. */
  readonly idleConnections: number;
  /** Connections out of the pool but still carrying streams (GOAWAY received, client closing). */
  readonly drainingConnections: number;
  /** Streams open, on pooled and draining connections. */
  readonly streams: number;
  /** Dials in progress (at most one per key). */
  readonly dialing: number;
  /** Distinct keys with a pooled connection or a dial in progress. */
  readonly keys: number;
  /** TLS handshakes completed since the pool was created. */
  readonly handshakes: number;
  /** Connections closed for being idle since the pool was created. */
  readonly idleEvictions: number;
}

/** One connection, as {@link HbonePool.connections} reports it. */
export interface HbonePoolConnectionInfo {
  readonly key: HbonePoolKey;
  readonly connectionId: number;
  /** `ready` takes new streams (below its limit); `draining` finishes its streams, then closes. */
  readonly state: 'ready' | 'draining';
  readonly streams: number;
  /** min(100, the server's SETTINGS_MAX_CONCURRENT_STREAMS). */
  readonly maxStreams: number;
  /** Time without streams, on the pool's clock; 0 while streams are open. */
  readonly idleMs: number;
  readonly peerIdentity: string | undefined;
}

/** Observes and manages a client's connection pool. */
export interface HbonePool {
  /** @returns Counts at this instant; idle connections past their timeout are evicted first. */
  stats(): HbonePoolStats;
  /** @returns Every pooled and draining connection. */
  connections(): HbonePoolConnectionInfo[];
  /**
   * Closes every pooled connection idle for at least `idleTimeoutMs` on the pool's clock. Runs on its own
   * (a timer, every checkout, every {@link stats} call); call it after moving an injected clock.
   *
   * @returns How many connections were evicted.
   */
  evictIdle(): number;
}

interface KeyEntry {
  readonly key: HbonePoolKey;
  readonly connections: Set<ClientConnection>;
  dialing: Promise<ClientConnection> | undefined;
}

/**
 * Serialises a key. Identities are sorted so that the same set of expected identities shares connections.
 *
 * @param key - The key.
 * @returns A string unique per key.
 *
 * @example
 * ```ts
 * poolKeyString({ sourceIdentity, destinationIdentities: [serverId], destinationAddress: '10.0.0.2:15008', sourceIp: undefined });
 * ```
 */
function poolKeyString(key: HbonePoolKey): string {
  return JSON.stringify([
    key.sourceIdentity,
    key.destinationIdentities,
    key.destinationAddress,
    key.sourceIp ?? '',
  ]);
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/**
 * The error an aborted operation rejects with.
 *
 * @param signal - The aborted signal.
 * @returns `HBONE_ERR_ABORTED`, or the signal's reason when it is already an `HboneError`.
 *
 * @example
 * ```ts
 * signal.addEventListener('abort', () => reject(abortError(signal)));
 * ```
 */
export function abortError(signal: AbortSignal): HboneError {
  const reason: unknown = signal.reason;
  if (reason instanceof HboneError) return reason;
  return new HboneError('HBONE_ERR_ABORTED', 'the operation was aborted', { cause: reason });
}

/**
 * The pool implementation: a map from key to connections plus the key's dial in progress.
 *
 * @example
 * ```ts
 * const pool = new ConnectionPool({ clock: systemClock, idleTimeoutMs: 300_000 });
 * const connection = await pool.acquire(key, () => dialClientConnection(target, settings, systemClock));
 * // ... on stream close:
 * connection.release();
 * ```
 */
export class ConnectionPool implements HbonePool {
  #entries = new Map<string, KeyEntry>();
  #draining = new Map<ClientConnection, HbonePoolKey>();
  #clock: HboneClock;
  #idleTimeoutMs: number;
  #handshakes = 0;
  #idleEvictions = 0;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param options - The clock and the idle timeout.
   */
  constructor(options: { clock: HboneClock; idleTimeoutMs: number }) {
    this.#clock = options.clock;
    this.#idleTimeoutMs = options.idleTimeoutMs;
  }

  /**
   * Checks out a stream slot on a pooled connection for `key`, dialing when no connection has room.
   *
   * @param key - The pool key.
   * @param dial - Makes a new connection for the key.
   * @param signal - Stops waiting (the dial goes on for whoever else waits, and pools its result).
   * @returns A connection with a slot reserved: call `release()` on it when the stream closes.
   * @throws {HboneError} The dial's error, `HBONE_ERR_ABORTED`, or `HBONE_ERR_CLOSED` after {@link close}.
   */
  async acquire(
    key: HbonePoolKey,
    dial: () => Promise<ClientConnection>,
    signal?: AbortSignal,
  ): Promise<ClientConnection> {
    const id = poolKeyString(key);
    for (;;) {
      if (this.#closed) throw new HboneError('HBONE_ERR_CLOSED', 'the HBONE client is closed');
      if (signal?.aborted) throw abortError(signal);
      this.evictIdle();
      let entry = this.#entries.get(id);
      if (entry === undefined) {
        entry = { key, connections: new Set(), dialing: undefined };
        this.#entries.set(id, entry);
      }
      for (const connection of entry.connections) {
        if (connection.hasCapacity) {
          connection.reserve();
          return connection;
        }
      }
      if (entry.dialing === undefined) entry.dialing = this.#dial(id, entry, dial);
      await abortable(entry.dialing, signal);
    }
  }

  #dial(id: string, entry: KeyEntry, dial: () => Promise<ClientConnection>): Promise<ClientConnection> {
    const dialing = dial().then(
      (connection) => {
        entry.dialing = undefined;
        this.#handshakes++;
        if (this.#closed) {
          void connection.close(0);
          throw new HboneError('HBONE_ERR_CLOSED', 'the HBONE client is closed');
        }
        entry.connections.add(connection);
        connection.onGone(() => this.#forget(id, connection));
        this.#arm();
        return connection;
      },
      (error: unknown) => {
        entry.dialing = undefined;
        if (entry.connections.size === 0) this.#entries.delete(id);
        throw error;
      },
    );
    // Waiters attach their own handlers; keep an unobserved failure from being reported as unhandled.
    dialing.catch(() => {});
    return dialing;
  }

  #forget(id: string, connection: ClientConnection): void {
    this.#draining.delete(connection);
    const entry = this.#entries.get(id);
    if (entry === undefined) return;
    entry.connections.delete(connection);
    if (entry.connections.size === 0 && entry.dialing === undefined) this.#entries.delete(id);
    if (this.#entries.size === 0 && this.#draining.size === 0) this.#disarm();
  }

  // Moves connections that stopped taking streams (GOAWAY, ping timeout) out of the pool.
  #sweepDraining(): void {
    for (const [id, entry] of this.#entries) {
      for (const connection of entry.connections) {
        if (connection.state !== 'ready') {
          entry.connections.delete(connection);
          if (connection.state === 'draining') {
            // #forget, registered when the connection was pooled, removes it once it closes.
            this.#draining.set(connection, entry.key);
          }
        }
      }
      if (entry.connections.size === 0 && entry.dialing === undefined) this.#entries.delete(id);
    }
  }

  evictIdle(): number {
    this.#sweepDraining();
    const now = this.#clock.now();
    let evicted = 0;
    for (const entry of this.#entries.values()) {
      for (const connection of entry.connections) {
        if (connection.activeStreams === 0 && now - connection.lastUsedAt >= this.#idleTimeoutMs) {
          connection.retire();
          evicted++;
        }
      }
    }
    if (evicted > 0) {
      this.#idleEvictions += evicted;
      this.#sweepDraining();
    }
    return evicted;
  }

  stats(): HbonePoolStats {
    this.evictIdle();
    let connections = 0;
    let idleConnections = 0;
    let streams = 0;
    let dialing = 0;
    for (const entry of this.#entries.values()) {
      if (entry.dialing !== undefined) dialing++;
      for (const connection of entry.connections) {
        connections++;
        streams += connection.activeStreams;
        if (connection.activeStreams === 0) idleConnections++;
      }
    }
    for (const connection of this.#draining.keys()) streams += connection.activeStreams;
    return {
      connections,
      idleConnections,
      drainingConnections: this.#draining.size,
      streams,
      dialing,
      keys: this.#entries.size,
      handshakes: this.#handshakes,
      idleEvictions: this.#idleEvictions,
    };
  }

  connections(): HbonePoolConnectionInfo[] {
    this.evictIdle();
    const now = this.#clock.now();
    const out: HbonePoolConnectionInfo[] = [];
    const describe = (
      key: HbonePoolKey,
      c: ClientConnection,
      state: 'ready' | 'draining',
    ): HbonePoolConnectionInfo => ({
      key,
      connectionId: c.id,
      state,
      streams: c.activeStreams,
      maxStreams: c.maxStreams,
      idleMs: c.activeStreams === 0 ? now - c.lastUsedAt : 0,
      peerIdentity: c.peerIdentity,
    });
    for (const entry of this.#entries.values()) {
      for (const c of entry.connections) out.push(describe(entry.key, c, 'ready'));
    }
    for (const [c, key] of this.#draining) out.push(describe(key, c, 'draining'));
    return out;
  }

  /**
   * Closes every connection: GOAWAY, then a hard close after `deadlineMs`. Later `acquire` calls fail.
   *
   * @param deadlineMs - Grace period for open streams.
   * @returns Resolves once every connection is closed.
   */
  async close(deadlineMs: number): Promise<void> {
    this.#closed = true;
    this.#disarm();
    const all: ClientConnection[] = [...this.#draining.keys()];
    for (const entry of this.#entries.values()) all.push(...entry.connections);
    await Promise.all(all.map((c) => c.close(deadlineMs)));
  }

  // The idle timer runs only while connections exist, unref'd, so an idle pool never keeps a process alive.
  #arm(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const everyMs = Math.max(50, Math.min(this.#idleTimeoutMs, 30_000));
    this.#timer = setInterval(() => this.evictIdle(), everyMs);
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
