/**
 * HBONE clients keyed by source identity: ztunnel keeps a connection pool per identity (and, in in-pod mode,
 * per pod: `istio/ztunnel@62d82653:src/proxy/pool.rs`), so each identity gets one `@ambient-kit/hbone` client, made on first use.
 * @module
 */
import type { HboneClient } from '@ambient-kit/hbone';

/** The HBONE clients of a ztunnel (or of one in-pod workload), one per source identity. */
export interface HboneClientsByIdentity {
  /**
   * The client of an identity, created on first use (concurrent callers share it); a failed creation is
   * forgotten, so the next use tries again.
   *
   * @param identity - The source workload's SPIFFE ID.
   * @returns The client.
   */
  get(identity: string): Promise<HboneClient>;
  /** Closes one identity's client (its last workload left) and forgets it. */
  close(identity: string): Promise<void>;
  /** Closes every client. */
  closeAll(): Promise<void>;
}

// A client that never came up has nothing to close.
function closeClient(client: Promise<HboneClient>): Promise<void> {
  return client.then(
    (c) => c.close({ deadlineMs: 1000 }),
    () => {},
  );
}

/**
 * Creates the per-identity client cache.
 *
 * @param create - Makes the client of an identity (its SVID, the bundles, the dialer).
 * @returns The cache.
 * @example
 * ```ts
 * const clients = hboneClientsByIdentity(async (identity) =>
 *   createHboneClient({ svid: await certs.source(identity), bundles }),
 * );
 * const stream = await (await clients.get(sleep.identity)).connect({ via, authority, expectedIdentities });
 * ```
 */
export function hboneClientsByIdentity(
  create: (identity: string) => Promise<HboneClient>,
): HboneClientsByIdentity {
  const clients = new Map<string, Promise<HboneClient>>();
  return {
    get(identity) {
      let client = clients.get(identity);
      if (client === undefined) {
        client = create(identity);
        client.catch(() => clients.delete(identity));
        clients.set(identity, client);
      }
      return client;
    },
    async close(identity) {
      const client = clients.get(identity);
      if (client === undefined) return;
      clients.delete(identity);
      await closeClient(client);
    },
    async closeAll() {
      const all = [...clients.values()];
      clients.clear();
      await Promise.all(all.map(closeClient));
    },
  };
}
