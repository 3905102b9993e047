/**
 * Certificates for the ztunnel's local workloads, one rotating SVID per identity, obtained the way ztunnel
 * obtains them (`istio/ztunnel@62d82653:src/identity/manager.rs`, `istio/ztunnel@62d82653:src/tls/csr.rs`): a fresh ECDSA P-256 key, a CSR with the
 * workload's SPIFFE ID, signed by the CA (istiod's `IstioCertificateService/CreateCertificate`), refreshed
 * at half-life. Also the `certificates` section of `/config_dump` (`istio/ztunnel@62d82653:src/admin.rs` `dump_certs`).
 * @module
 */
import { generateKeyPair, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import {
  type CertificateAuthority,
  createCsr,
  createRotatingSvidSource,
  parseX509Svid,
  type RotatingSvidSource,
  type SvidSource,
} from '@ambient-kit/spiffe';
import type { IstioCaClient } from '@ambient-kit/spiffe/istio-ca';

const generateKeyPairAsync = promisify(generateKeyPair);

/** The CA as ztunnel talks to it: a CSR in, the signed chain out (leaf first, the root last). */
export interface CaClient {
  /**
   * @param csrPem - A PKCS#10 CSR in PEM.
   * @param identity - The SPIFFE ID to sign for (istiod takes it from the caller's credentials, never the CSR).
   * @param ttlMs - The requested lifetime.
   * @returns The chain as PEM blocks, leaf first, root last (`IstioCertificateResponse.cert_chain`).
   */
  sign(csrPem: string, identity: string, ttlMs: number): Promise<readonly string[]>;
}

/**
 * A {@link CaClient} over an in-process `@ambient-kit/spiffe` CA (the embedded control plane's).
 *
 * @param ca - The certificate authority.
 * @returns The client.
 * @example
 * ```ts
 * const ca = await createCertificateAuthority({ trustDomain: 'cluster.local' });
 * const ztunnel = createZtunnel({ nodeName: 'node-a', ca: caClientFromAuthority(ca), bundles: createBundleSet([ca.bundle]), workloads });
 * ```
 */
export function caClientFromAuthority(ca: Pick<CertificateAuthority, 'signCsr'>): CaClient {
  return {
    async sign(csrPem, identity, ttlMs) {
      const signed = await ca.signCsr(csrPem, { id: identity, ttlMs });
      return signed.istioCertChain;
    },
  };
}

/**
 * A {@link CaClient} over an Istio CA client (`@ambient-kit/spiffe/istio-ca`): istiod's
 * `IstioCertificateService/CreateCertificate` over TLS with the bearer token, or the control plane's.
 *
 * @param client - The Istio CA client (`createIstioCaClient`).
 * @param options - `impersonate: true` as a node proxy (ztunnel in shared mode): each request carries the
 *   workload's identity as `ImpersonatedIdentity` and the CA signs it for a trusted node account only;
 *   `false` as a workload itself (a waypoint): the CA signs the identity of the caller's token.
 * @returns The client.
 * @example
 * ```ts
 * const istio = createIstioCaClient({ address: 'istiod.istio-system.svc:15012', rootCertificatesPem, tokenFile });
 * const ztunnel = createZtunnel({ ..., ca: caClientFromIstioCa(istio, { impersonate: true }) });
 * ```
 */
export function caClientFromIstioCa(
  client: Pick<IstioCaClient, 'createCertificate'>,
  options: { readonly impersonate: boolean },
): CaClient {
  return {
    sign: (csrPem, identity, ttlMs) =>
      client.createCertificate(csrPem, { ttlMs, ...(options.impersonate ? { impersonate: identity } : {}) }),
  };
}

/** ztunnel's certificate state per identity. */
export type CertificateState = 'Initializing' | 'Available' | `Unavailable: ${string}`;

/** One entry of `/config_dump` `certificates`. */
export interface CertificateDump {
  readonly identity: string;
  readonly state: CertificateState;
  readonly certChain: readonly CertDump[];
  readonly rootCerts: readonly CertDump[];
  readonly [key: string]: unknown;
}

/** One certificate in a {@link CertificateDump}: base64 of the PEM, decimal serial, RFC 3339 validity. */
export interface CertDump {
  readonly pem: string;
  readonly serialNumber: string;
  readonly validFrom: string;
  readonly expirationTime: string;
  readonly [key: string]: unknown;
}

/** Certificates of the ztunnel's local identities. */
export interface CertificateManager {
  /**
   * The SVID source of an identity, fetching the first SVID on first use (concurrent callers share it).
   *
   * @param identity - `spiffe://<td>/ns/<ns>/sa/<sa>`.
   * @returns A source that rotates at half-life.
   * @throws {SpiffeError} When the first SVID cannot be obtained.
   */
  source(identity: string): Promise<SvidSource>;
  /** Identities whose first SVID is still being fetched. */
  pending(): readonly string[];
  /** Every identity with a certificate (fetching, available or failed), in no particular order. */
  identities(): readonly string[];
  /** The `certificates` section of `/config_dump`, sorted by identity. */
  dump(): CertificateDump[];
  /** Stops rotating an identity's SVID (its last workload left). */
  forget(identity: string): void;
  /** Stops every rotation. */
  close(): void;
}

interface Entry {
  state: CertificateState;
  /** Closes the source, also while it waits for its first SVID (a CA that never answers). */
  readonly abort: AbortController;
  source: Promise<RotatingSvidSource>;
  ready?: RotatingSvidSource;
  chain: readonly string[];
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

function rfc3339(date: string): string {
  return new Date(date).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function certDump(pem: string): CertDump {
  const x509 = new X509Certificate(pem);
  return {
    pem: Buffer.from(pem).toString('base64'),
    serialNumber: BigInt(`0x${x509.serialNumber}`).toString(),
    validFrom: rfc3339(x509.validFrom),
    expirationTime: rfc3339(x509.validTo),
  };
}

/**
 * Creates the certificate manager.
 *
 * @param options - The CA client and the SVID lifetime to request.
 * @returns The manager.
 * @example
 * ```ts
 * const certs = createCertificateManager({ ca: caClientFromAuthority(ca), ttlMs: 3600_000 });
 * const svid = await certs.source('spiffe://cluster.local/ns/default/sa/sleep');
 * ```
 */
export function createCertificateManager(options: {
  readonly ca: CaClient;
  readonly ttlMs: number;
  readonly onError?: (identity: string, error: Error) => void;
}): CertificateManager {
  const entries = new Map<string, Entry>();

  async function fetch(identity: string, entry: Entry) {
    // ztunnel requests an ECDSA P-256 key (istio/ztunnel@62d82653:src/tls/csr.rs).
    const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' });
    const csr = await createCsr(identity, privateKey);
    const chain = await options.ca.sign(csr, identity, options.ttlMs);
    const keyPem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    const svid = parseX509Svid(chain.join('\n'), keyPem);
    if (svid.isErr()) throw svid.error;
    // Fail closed: a CA that signs another identity than the one asked for (istiod takes the SAN from the
    // caller's token, so a token of the wrong service account does this) gives nothing usable
    // (istio/ztunnel@62d82653:src/identity/caclient.rs "expected identity").
    if (svid.value.id.toString() !== identity)
      throw new Error(`the CA issued a certificate for ${svid.value.id.toString()}, not ${identity}`);
    entry.chain = chain.flatMap((pem) => pem.match(PEM_BLOCK) ?? []);
    return svid.value;
  }

  return {
    source(identity) {
      const existing = entries.get(identity);
      // A failed identity is retried on the next use; its failure stays visible in the dump until then.
      if (existing !== undefined && !existing.state.startsWith('Unavailable')) return existing.source;
      const entry: Entry = {
        state: 'Initializing',
        abort: new AbortController(),
        chain: [],
        source: Promise.resolve(undefined as never),
      };
      entry.source = createRotatingSvidSource({
        fetchSvid: () => fetch(identity, entry),
        signal: entry.abort.signal,
        onError: (error) => options.onError?.(identity, error),
      }).then(
        (source) => {
          entry.state = 'Available';
          entry.ready = source;
          return source;
        },
        (error: unknown) => {
          entry.state = `Unavailable: ${error instanceof Error ? error.message : String(error)}`;
          throw error;
        },
      );
      entries.set(identity, entry);
      return entry.source;
    },
    pending: () => [...entries].filter(([, e]) => e.state === 'Initializing').map(([id]) => id),
    identities: () => [...entries.keys()],
    dump() {
      return [...entries]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([identity, e]) => {
          // The chain without the root; the root separately (ztunnel `cert_and_intermediates`, `roots`).
          const certs = e.state === 'Available' ? e.chain : [];
          return {
            identity,
            state: e.state,
            certChain: certs.slice(0, -1).map(certDump),
            rootCerts: certs.slice(-1).map(certDump),
          };
        });
    },
    forget(identity) {
      const entry = entries.get(identity);
      entries.delete(identity);
      entry?.abort.abort();
      entry?.ready?.close();
      void entry?.source.then(
        (s) => s.close(),
        () => {},
      );
    },
    close() {
      for (const identity of [...entries.keys()]) this.forget(identity);
    },
  };
}
