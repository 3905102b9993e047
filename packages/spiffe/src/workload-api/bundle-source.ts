/**
 * A {@link BundleSource} and {@link JwtBundleSource} fed by the Workload API (go-spiffe
 * `workloadapi.BundleSource`, spiffe/go-spiffe@e9973f63:workloadapi/bundlesource.go): it watches
 * `FetchX509Bundles` and `FetchJWTBundles`, for a workload that verifies peers (X509-SVIDs, JWT-SVIDs) with
 * the agent's bundles, whether or not it has an identity of its own.
 * @module
 */
import type { BundleSet, BundleSource, JwtBundleSource } from '../codec/bundle-set.js';
import { SpiffeError } from '../codec/errors.js';
import type { JwtBundle } from '../codec/jwt-bundle.js';
import type { TrustDomain } from '../codec/spiffe-id.js';
import type { X509Bundle } from '../codec/x509-bundle.js';
import { firstState, type SourceClientOptions, sourceClient } from './first-state.js';
import type { Watch } from './watch.js';

/** Options of {@link createBundleSource}. */
export interface BundleSourceOptions extends SourceClientOptions {
  /** Also follow the JWT bundles (default true). */
  readonly jwt?: boolean;
  /** How long the factory waits for the first bundles. Default 30 000 ms. */
  readonly initialTimeoutMs?: number;
  /** Told about every failure of the watches. */
  readonly onError?: (error: SpiffeError) => void;
  /** Closes the source when aborted. */
  readonly signal?: AbortSignal;
}

/** X.509 and JWT bundles backed by the Workload API. */
export interface WorkloadApiBundleSource extends BundleSource, JwtBundleSource {
  /** Every JWT bundle of the latest state. */
  jwtBundles(): readonly JwtBundle[];
  /** Stops the watches. Afterwards every lookup answers `undefined`: a closed source trusts nobody. */
  close(): void;
}

/**
 * Creates a bundle source. It resolves once the first X.509 bundles arrived and the JWT bundles either
 * arrived or the first JWT answer was a refusal (UNIMPLEMENTED, a message that breaks the profile, …); a JWT
 * bundle missing then simply trusts no token of that trust domain, until a JWT state arrives. Each new message replaces the whole state (SPIFFE_Workload_API.md,
 * section 4.4: a trust domain left out is no longer trusted); while the endpoint is unreachable the last
 * state is kept and the watches retry with backoff.
 *
 * @param options - The client (or its endpoint), whether to follow JWT bundles, the first-state timeout.
 * @returns The source.
 * @throws {SpiffeError} (rejects) `SPIFFE_ERR_WORKLOAD_API_TIMEOUT` when the first bundles do not arrive in
 * time, the X.509 watch's terminal error, `SPIFFE_ERR_SOURCE_CLOSED` when `signal` aborts first.
 * @example
 * ```ts
 * const bundles = await createBundleSource({ socketPath: 'unix:///run/spire/sockets/agent.sock' });
 * validateJwtSvid(token, bundles, ['spiffe://example.org/api']);
 * ```
 */
export async function createBundleSource(
  options: BundleSourceOptions = {},
): Promise<WorkloadApiBundleSource> {
  // The timeout is checked before a client exists, so a bad one leaks nothing.
  const first = firstState(
    options.initialTimeoutMs ?? 30_000,
    () => `no bundles from the Workload API ${client.address}`,
  );
  const { client, owned } = sourceClient(options);
  const followJwt = options.jwt ?? true;
  let x509: BundleSet | undefined;
  let jwt: BundleSet | undefined;
  let jwtSettled = !followJwt;
  let closed = false;
  const watches: Watch[] = [];
  const report = (error: SpiffeError): void => options.onError?.(error);

  const check = (): void => {
    if (x509 !== undefined && jwtSettled) first.ready();
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    options.signal?.removeEventListener('abort', close);
    for (const w of watches) w.close();
    if (owned) client.close();
    first.fail(new SpiffeError('SPIFFE_ERR_SOURCE_CLOSED', 'the bundle source is closed'));
  };

  const x509Watch = client.watchX509Bundles(
    (bundles) => {
      x509 = bundles;
      check();
    },
    { onError: report },
  );
  watches.push(x509Watch);
  void x509Watch.done.then((error) => {
    if (error !== undefined) first.fail(error);
  });
  if (followJwt) {
    const jwtWatch = client.watchJwtBundles(
      (bundles) => {
        jwt = bundles;
        jwtSettled = true;
        check();
      },
      {
        onError: (error) => {
          // Any first answer settles the JWT side, a refused one too: the source then trusts no JWT-SVID
          // (fail closed) rather than keep its X.509 bundles from being used.
          jwtSettled = true;
          report(error);
          check();
        },
      },
    );
    watches.push(jwtWatch);
    void jwtWatch.done.then((error) => {
      if (error === undefined) return;
      // An endpoint without the JWT profile: X.509 alone is still a usable source.
      jwtSettled = true;
      check();
    });
  }

  if (options.signal?.aborted) close();
  options.signal?.addEventListener('abort', close, { once: true });
  try {
    await first.wait();
  } catch (error) {
    close();
    throw error;
  }

  return Object.freeze({
    getX509BundleForTrustDomain: (trustDomain: TrustDomain): X509Bundle | undefined =>
      closed ? undefined : x509?.getX509BundleForTrustDomain(trustDomain),
    x509Bundles: (): readonly X509Bundle[] => (closed || x509 === undefined ? [] : x509.x509Bundles()),
    getJwtBundleForTrustDomain: (trustDomain: TrustDomain): JwtBundle | undefined =>
      closed ? undefined : jwt?.getJwtBundleForTrustDomain(trustDomain),
    jwtBundles: (): readonly JwtBundle[] => (closed || jwt === undefined ? [] : jwt.jwtBundles()),
    close,
  } satisfies WorkloadApiBundleSource);
}
