/**
 * `createMeshDispatcher`: an undici `Agent` whose connections go through the mesh. undici keeps its own
 * pool of HTTP connections per origin; each new one is an HBONE tunnel (one HTTP/2 CONNECT stream) on the
 * HBONE client's pooled mTLS connections, with a fresh upstream choice per connection, as ztunnel chooses
 * per TCP connection.
 * @module
 */
import type { Socket } from 'node:net';
import { Agent } from 'undici';
import { appTls } from './app-tls.js';
import { createMeshConnector, type MeshClientOptions, type MeshConnector } from './mesh-connector.js';

/** Options of {@link createMeshDispatcher}. */
export interface MeshDispatcherOptions extends MeshClientOptions {
  /** undici `Agent` options (keep-alive, connections per origin, timeouts); `connect` is the mesh's. */
  readonly agent?: Omit<Agent.Options, 'connect'>;
}

/** An undici `Dispatcher` (an `Agent`) that speaks the mesh. */
export interface MeshDispatcher extends Agent {
  /** The outbound core (its HBONE client and pool). */
  readonly mesh: MeshConnector;
}

class MeshAgent extends Agent implements MeshDispatcher {
  readonly mesh: MeshConnector;
  constructor(mesh: MeshConnector, options: Agent.Options) {
    super(options);
    this.mesh = mesh;
  }
  // undici's promise forms call the callback forms: close the mesh client in the callback form only.
  // biome-ignore lint/suspicious/noExplicitAny: undici's overloads (callback and promise forms).
  override close(callback?: any): any {
    if (typeof callback !== 'function') {
      return new Promise<void>((resolve, reject) =>
        this.close((e: Error | null) => (e ? reject(e) : resolve())),
      );
    }
    const base = super.close as unknown as (cb: (e: Error | null) => void) => void;
    base.call(this, (error) => {
      this.mesh.close().then(() => callback(error), callback);
    });
    return undefined;
  }
  // biome-ignore lint/suspicious/noExplicitAny: undici's overloads (callback and promise forms).
  override destroy(...args: any[]): any {
    const error = (args.find((a) => a instanceof Error) as Error | undefined) ?? null;
    const callback = args.find((a) => typeof a === 'function') as ((e: Error | null) => void) | undefined;
    if (callback === undefined) {
      return new Promise<void>((resolve, reject) =>
        this.destroy(error, (e: Error | null) => (e ? reject(e) : resolve())),
      );
    }
    const base = super.destroy as unknown as (e: Error | null, cb: (e: Error | null) => void) => void;
    base.call(this, error, (e) => {
      this.mesh.close().then(() => callback(e), callback);
    });
    return undefined;
  }
}

/**
 * Creates an undici `Dispatcher` that resolves each origin through the workload store, goes through the
 * service's waypoint when it has one, opens HBONE with the app's SVID and verifies the destination's SPIFFE
 * ID. Pass it to `fetch` (`{ dispatcher }`): Node 20 and 22's global `fetch` take it; on Node 24 and later
 * use undici's own `fetch` (`import { fetch } from 'undici'`), whose `Dispatcher` interface this matches on
 * every Node version. Connect failures reject `fetch` with a `TypeError` whose `cause` is a
 * {@link NativeHboneError}.
 *
 * @param options - Identity, trust, the mesh, this app's workload, and undici `Agent` options.
 * @returns The dispatcher; `close()` also closes the HBONE client it created.
 * @throws {NativeHboneError} `NATIVE_HBONE_ERR_CONFIG` on a bad or unknown option.
 * @example
 * ```ts
 * import { createMeshDispatcher } from '@ambient-kit/native-hbone';
 * import { fetch } from 'undici'; // Node 20/22's global fetch takes `dispatcher` too
 *
 * const dispatcher = createMeshDispatcher({ svid, bundles, store, source: 'Kubernetes//Pod/default/web-1' });
 * const res = await fetch('http://reviews:9080/reviews/1', { dispatcher });
 * console.log(res.status, await res.text());
 * ```
 */
export function createMeshDispatcher(options: MeshDispatcherOptions): MeshDispatcher {
  const mesh = createMeshConnector(options, 'createMeshDispatcher', ['agent']);
  return new MeshAgent(mesh, {
    ...(options.agent ?? {}),
    connect: (opts, callback) => {
      const https = opts.protocol === 'https:';
      const port = opts.port === '' ? (https ? 443 : 80) : Number(opts.port);
      mesh
        .open(opts.hostname, port)
        .then(async (stream) => {
          const socket = https
            ? await appTls(stream, opts.servername ?? opts.hostname, ['http/1.1'])
            : stream;
          // An HBONE tunnel is a Duplex with net.Socket's surface (setNoDelay, setKeepAlive, ref, ...).
          callback(null, socket as Socket);
        })
        .catch((error: Error) => callback(error, null));
    },
  });
}
