/**
 * `createMeshAgent`: a `node:http` `Agent` whose sockets are mesh connections, for `http.request`,
 * `http.get` and the libraries built on them (axios, got with `agent`, the AWS SDK's node handler...).
 * @module
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { createMeshConnector, type MeshClientOptions, type MeshConnector } from './mesh-connector.js';

/** Options of {@link createMeshAgent}. */
export interface MeshAgentOptions extends MeshClientOptions {
  /** `http.Agent` options; `keepAlive` defaults to `true` (tunnels are reused). */
  readonly agent?: http.AgentOptions;
}

/** A `node:http` `Agent` that speaks the mesh. */
export interface MeshHttpAgent extends http.Agent {
  /** The outbound core (its HBONE client and pool). */
  readonly mesh: MeshConnector;
  /**
   * Destroys the agent's sockets and closes the HBONE client it created.
   *
   * @returns Resolves once the HBONE connections are closed.
   */
  close(): Promise<void>;
}

type CreateCallback = (error: Error | null, socket: Duplex) => void;

class MeshAgentImpl extends http.Agent {
  readonly mesh: MeshConnector;
  constructor(mesh: MeshConnector, options: http.AgentOptions) {
    super(options);
    this.mesh = mesh;
  }
  // node:http calls this with a callback and waits for it when nothing is returned
  // (nodejs/node lib/_http_agent.js `createSocket`).
  override createConnection(
    options: http.ClientRequestArgs,
    callback?: CreateCallback,
  ): Duplex | null | undefined {
    const host = options.hostname ?? options.host ?? 'localhost';
    const port = Number(options.port ?? 80);
    this.mesh
      .open(host, port)
      .then((stream) => callback?.(null, stream))
      .catch((error: Error) => callback?.(error, undefined as unknown as Duplex));
    return undefined;
  }
  async close(): Promise<void> {
    this.destroy();
    await this.mesh.close();
  }
}

/**
 * Creates a `node:http` `Agent` that resolves each request's host through the workload store, goes through
 * the service's waypoint when it has one, opens HBONE with the app's SVID and verifies the destination's
 * SPIFFE ID. Failures are emitted as the request's `'error'`: a {@link NativeHboneError}. For `http:` URLs
 * (TLS inside the mesh is the tunnel's).
 *
 * @param options - Identity, trust, the mesh, this app's workload, and `http.Agent` options.
 * @returns The agent.
 * @throws {NativeHboneError} `NATIVE_HBONE_ERR_CONFIG` on a bad or unknown option.
 * @example
 * ```ts
 * const agent = createMeshAgent({ svid, bundles, store, source: 'Kubernetes//Pod/default/web-1' });
 * http.get('http://reviews:9080/reviews/1', { agent }, (res) => res.pipe(process.stdout));
 * ```
 */
export function createMeshAgent(options: MeshAgentOptions): MeshHttpAgent {
  const mesh = createMeshConnector(options, 'createMeshAgent', ['agent']);
  return new MeshAgentImpl(mesh, { keepAlive: true, ...(options.agent ?? {}) });
}
