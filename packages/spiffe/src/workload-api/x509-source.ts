/**
 * An {@link SvidSource} and {@link BundleSource} fed by the Workload API (go-spiffe `workloadapi.X509Source`,
 * spiffe/go-spiffe@e9973f63:workloadapi/x509source.go): it watches `FetchX509SVID` and always holds the
 * latest state, so `mtlsClientOptions`, `bindMtlsServer` and HBONE take their identity, and their peers'
 * roots, from a SPIRE agent, and follow its rotations without a restart.
 * @module
 */
import type { BundleSource } from '../codec/bundle-set.js';
import { equalBytes } from '../codec/bytes.js';
import { SpiffeError } from '../codec/errors.js';
import type { TrustDomain } from '../codec/spiffe-id.js';
import type { X509Bundle } from '../codec/x509-bundle.js';
import type { SvidListener, SvidSource } from '../svid/svid-source.js';
import { firstState, type SourceClientOptions, sourceClient } from './first-state.js';
import type { Watch } from './watch.js';
import type { WorkloadX509Svid, X509Context } from './x509-context.js';

/** Options of {@link createX509Source}. */
export interface X509SourceOptions extends SourceClientOptions {
  /**
   * Which SVID to present when there are several: by hint, or a function of the list. Default: the first,
   * the default identity (SPIFFE_Workload_API.md, section 8).
   */
  readonly pick?: string | ((svids: readonly WorkloadX509Svid[]) => WorkloadX509Svid | undefined);
  /** How long the factory waits for the first X.509 context. Default 30 000 ms. */
  readonly initialTimeoutMs?: number;
  /** Told about every failure of the watch, and about a state without the picked SVID. */
  readonly onError?: (error: SpiffeError) => void;
  /** Closes the source when aborted. */
  readonly signal?: AbortSignal;
}

/** An SVID and bundle source backed by the Workload API. */
export interface X509Source extends SvidSource, BundleSource {
  /**
   * The picked SVID of the latest state.
   * @throws {SpiffeError} `SPIFFE_ERR_SOURCE_CLOSED` after close; `SPIFFE_ERR_WORKLOAD_API_PERMISSION_DENIED`
   * after the endpoint withdrew the caller's identities; `SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE` when the
   * latest state has no SVID the `pick` option accepts.
   */
  current(): WorkloadX509Svid;
  /** The latest X.509 context, whole. */
  context(): X509Context;
}

function picker(
  pick: X509SourceOptions['pick'],
): (svids: readonly WorkloadX509Svid[]) => WorkloadX509Svid | undefined {
  if (pick === undefined) return (svids) => svids[0];
  if (typeof pick === 'string') return (svids) => svids.find((s) => s.hint === pick);
  if (typeof pick === 'function') return pick;
  throw new TypeError('createX509Source: pick must be a hint string or a function');
}

function sameSvid(a: WorkloadX509Svid | undefined, b: WorkloadX509Svid | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.privateKeyPem === b.privateKeyPem &&
    a.certificates.length === b.certificates.length &&
    a.certificates.every((der, i) => equalBytes(der, b.certificates[i] as Uint8Array))
  );
}

/**
 * Creates an X.509 source: watches the caller's X.509 context and resolves once the first one arrived.
 *
 * - `current()` is the picked SVID of the latest state; listeners hear of every change of it (a rotation).
 * - The bundles are the latest state's, each trust domain apart: pass the source as the `bundles` of the mTLS
 *   helpers or of HBONE.
 * - While the endpoint is unreachable the last state is kept (its SVID stays valid until it expires) and the
 *   watch retries with backoff. When the endpoint answers PERMISSION_DENIED the identity has been withdrawn
 *   (SPIFFE_Workload_API.md, section 5.2.1: the client ceases to use it): `current()` throws until an
 *   identity arrives again.
 *
 * @param options - The client (or its endpoint), the SVID to pick, the first-state timeout.
 * @returns The source.
 * @throws {SpiffeError} (rejects) `SPIFFE_ERR_WORKLOAD_API_TIMEOUT` when no state arrives within
 * `initialTimeoutMs`, the watch's terminal error (e.g. `SPIFFE_ERR_WORKLOAD_API_INVALID_ARGUMENT`),
 * `SPIFFE_ERR_SOURCE_CLOSED` when `signal` aborts first, `SPIFFE_ERR_WORKLOAD_API_ADDRESS` for a bad
 * endpoint.
 * @example
 * ```ts
 * const source = await createX509Source({ socketPath: 'unix:///run/spire/sockets/agent.sock' });
 * const socket = tls.connect({ host, port, ...mtlsClientOptions({ svid: source, bundles: source, authorize }) });
 * ```
 */
export async function createX509Source(options: X509SourceOptions = {}): Promise<X509Source> {
  const pick = picker(options.pick);
  // The timeout is checked before a client exists, so a bad one leaks nothing.
  const first = firstState(
    options.initialTimeoutMs ?? 30_000,
    () => `no X.509 context from the Workload API ${client.address}`,
  );
  const { client, owned } = sourceClient(options);
  const listeners = new Set<SvidListener>();
  let latest: X509Context | undefined;
  let picked: WorkloadX509Svid | undefined;
  let withdrawn: SpiffeError | undefined;
  let closed = false;
  let watch: Watch | undefined;

  const report = (error: SpiffeError): void => options.onError?.(error);
  const emit = (svid: WorkloadX509Svid): void => {
    for (const listener of [...listeners]) {
      try {
        listener(svid);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  };

  const close = (): void => {
    if (closed) return;
    closed = true;
    options.signal?.removeEventListener('abort', close);
    watch?.close();
    listeners.clear();
    if (owned) client.close();
    first.fail(new SpiffeError('SPIFFE_ERR_SOURCE_CLOSED', 'the X.509 source is closed'));
  };

  watch = client.watchX509Context(
    (context) => {
      const next = pick(context.svids);
      latest = context;
      withdrawn = undefined;
      if (next === undefined) {
        report(
          new SpiffeError(
            'SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE',
            'the X.509 context from the Workload API has no SVID the pick option accepts',
          ),
        );
      }
      const changed = !sameSvid(picked, next);
      picked = next;
      if (next !== undefined) {
        first.ready();
        if (changed) emit(next);
      }
    },
    {
      onError: (error) => {
        if (error.code === 'SPIFFE_ERR_WORKLOAD_API_PERMISSION_DENIED') withdrawn = error;
        report(error);
      },
    },
  );
  void watch.done.then((error) => {
    if (error !== undefined) first.fail(error);
  });

  if (options.signal?.aborted) close();
  options.signal?.addEventListener('abort', close, { once: true });
  try {
    await first.wait();
  } catch (error) {
    close();
    throw error;
  }

  const state = (): X509Context => {
    if (closed) throw new SpiffeError('SPIFFE_ERR_SOURCE_CLOSED', 'the X.509 source is closed');
    if (withdrawn !== undefined) throw withdrawn;
    return latest as X509Context;
  };

  return Object.freeze({
    current: () => {
      state();
      if (picked === undefined) {
        throw new SpiffeError(
          'SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE',
          'the latest X.509 context has no SVID the pick option accepts',
        );
      }
      return picked;
    },
    context: state,
    subscribe: (listener: SvidListener) => {
      if (!closed) listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    getX509BundleForTrustDomain: (trustDomain: TrustDomain): X509Bundle | undefined => {
      // Fail closed: a closed or withdrawn source trusts nobody.
      if (closed || withdrawn !== undefined || latest === undefined) return undefined;
      return latest.bundles.getX509BundleForTrustDomain(trustDomain);
    },
    x509Bundles: (): readonly X509Bundle[] =>
      closed || withdrawn !== undefined || latest === undefined ? [] : latest.bundles.x509Bundles(),
    close,
  } satisfies X509Source);
}
