/**
 * The X.509 context: what one `FetchX509SVID` message says, the caller's X509-SVIDs (the first is the default
 * identity) and the X.509 bundles to verify peers with (spiffe/spiffe@665a28f3:standards/
 * SPIFFE_Workload_API.md, sections 5.2.1 and 8). Decoded with every check a received SVID gets
 * (`parseX509Svid`: the X509-SVID profile, the key matching the leaf), encoded as the server sends it.
 * @module
 */
import { create } from '@bufbuild/protobuf';
import { err, ok, type Result } from 'neverthrow';
import { type BundleSet, createBundleSet } from '../codec/bundle-set.js';
import { quote, SpiffeError } from '../codec/errors.js';
import { decodePem, encodePem } from '../codec/pem.js';
import { MAX_CHAIN_CERTIFICATES } from '../codec/x509/verify-chain.js';
import type { X509Bundle } from '../codec/x509-bundle.js';
import { splitConcatenatedDer, x509BundleFromDer } from '../codec/x509-bundle.js';
import { type X509SVIDResponse, X509SVIDResponseSchema } from '../gen/spiffe/workload/workload_pb.js';
import { parseX509Svid, type X509Svid } from '../x509/svid.js';
import { concatDer, decodeX509BundleMap, encodeX509BundleMap } from './bundle-map.js';

/** An X509-SVID as the Workload API delivers it: with its optional hint. */
export interface WorkloadX509Svid extends X509Svid {
  /** The operator's name for this identity (`internal`, `external`, …), or `''`. */
  readonly hint: string;
}

/** One state of the caller's X.509 identity (go-spiffe `workloadapi.X509Context`). */
export interface X509Context {
  /** The SVIDs, at least one; the first is the default identity. Later duplicates of a hint are dropped. */
  readonly svids: readonly WorkloadX509Svid[];
  /**
   * The X.509 bundles: each SVID's own trust domain and every federated one, each kept apart. A fresh set
   * per message: the message is the whole state.
   */
  readonly bundles: BundleSet;
  /** The certificate revocation lists as received (DER). This package does not apply CRLs. */
  readonly crls: readonly Uint8Array[];
}

/** Most SVIDs one message may carry. */
export const MAX_SVIDS_PER_RESPONSE = 256;

/** Longest hint a server sends (SPIFFE_Workload_API.md, section 8: implementations SHOULD NOT support more). */
export const MAX_HINT_BYTES = 1024;

/** Longest private key accepted, DER. */
const MAX_KEY_BYTES = 64 * 1024;

function badResponse(why: string, cause?: SpiffeError): SpiffeError {
  return new SpiffeError(
    'SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE',
    `invalid Workload API response: ${why}`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Reads one `X509SVID` entry: the chain (DER back to back) and the PKCS#8 key become an {@link X509Svid}
 * through `parseX509Svid`; `spiffe_id` must name the leaf's ID. Every field but `hint` is required
 * (section 5.2.1).
 *
 * @param entry - The entry.
 * @param index - Its position, for messages.
 * @returns The SVID, or `SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE`.
 */
function decodeSvid(
  entry: X509SVIDResponse['svids'][number],
  index: number,
): Result<WorkloadX509Svid, SpiffeError> {
  const where = `svids[${index}]`;
  if (entry.spiffeId === '' || entry.x509Svid.length === 0 || entry.x509SvidKey.length === 0)
    return err(badResponse(`${where}: spiffe_id, x509_svid and x509_svid_key are required`));
  if (entry.bundle.length === 0) return err(badResponse(`${where}: the bundle is required`));
  if (entry.x509SvidKey.length > MAX_KEY_BYTES) return err(badResponse(`${where}: the key is too large`));
  const parts = splitConcatenatedDer(entry.x509Svid, MAX_CHAIN_CERTIFICATES + 1);
  if (parts.isErr()) return err(badResponse(`${where}: ${parts.error.message}`, parts.error));
  const svid = parseX509Svid(
    parts.value.map((der) => encodePem('CERTIFICATE', der)).join(''),
    encodePem('PRIVATE KEY', entry.x509SvidKey),
  );
  if (svid.isErr()) return err(badResponse(`${where}: ${svid.error.message}`, svid.error));
  if (svid.value.id.toString() !== entry.spiffeId) {
    return err(
      badResponse(
        `${where}: spiffe_id ${quote(entry.spiffeId)} is not the certificate's ${quote(svid.value.id.toString())}`,
      ),
    );
  }
  return ok(Object.freeze({ ...svid.value, hint: entry.hint }));
}

/**
 * Decodes one `FetchX509SVID` message, as a whole or not at all (SPIFFE_Workload_API.md, section 4.5: a
 * message with a required field left empty is reported and discarded).
 *
 * - `svids` must hold at least one SVID; of several with the same non-empty hint the first is kept
 *   (section 5.2.1; go-spiffe `parseX509SVIDs`).
 * - Each SVID's `bundle` becomes the X.509 bundle of its trust domain (the first SVID of a trust domain
 *   wins); `federated_bundles` adds other trust domains; a federated entry for a trust domain an SVID already
 *   covers is ignored.
 *
 * @param message - The message.
 * @returns The context, or `SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE` (the underlying error as `cause`).
 * @example
 * ```ts
 * const context = decodeX509SvidResponse(message)._unsafeUnwrap();
 * context.svids[0]?.id.toString(); // the default identity
 * ```
 */
export function decodeX509SvidResponse(message: X509SVIDResponse): Result<X509Context, SpiffeError> {
  if (message.svids.length === 0) return err(badResponse('no SVID in the response'));
  if (message.svids.length > MAX_SVIDS_PER_RESPONSE)
    return err(badResponse(`more than ${MAX_SVIDS_PER_RESPONSE} SVIDs`));
  const svids: WorkloadX509Svid[] = [];
  const hints = new Set<string>();
  const bundles: X509Bundle[] = [];
  const domains = new Set<string>();
  for (const [i, entry] of message.svids.entries()) {
    if (entry.hint !== '' && hints.has(entry.hint)) continue;
    hints.add(entry.hint);
    const svid = decodeSvid(entry, i);
    if (svid.isErr()) return err(svid.error);
    svids.push(svid.value);
    const td = svid.value.id.trustDomain;
    if (!domains.has(td.name)) {
      const bundle = x509BundleFromDer(td, entry.bundle);
      if (bundle.isErr())
        return err(badResponse(`svids[${i}]: the bundle: ${bundle.error.message}`, bundle.error));
      domains.add(td.name);
      bundles.push(bundle.value);
    }
  }
  const federated = decodeX509BundleMap(message.federatedBundles);
  if (federated.isErr()) return err(federated.error);
  for (const bundle of federated.value) {
    if (domains.has(bundle.trustDomain.name)) continue;
    domains.add(bundle.trustDomain.name);
    bundles.push(bundle);
  }
  return ok(Object.freeze({ svids, bundles: createBundleSet(bundles), crls: [...message.crl] }));
}

/** One SVID a server hands out, with its hint. */
export interface ServedX509Svid {
  /** The SVID. */
  readonly svid: X509Svid;
  /** Its hint (`''` for none). */
  readonly hint?: string;
}

/**
 * Builds a `FetchX509SVID` message: each SVID's chain as DER back to back with its PKCS#8 key, its own trust
 * domain's bundle, and every other trust domain's bundle under `federated_bundles`.
 *
 * @param svids - The SVIDs, the default first.
 * @param bundles - Every X.509 bundle, the SVIDs' own trust domains included.
 * @returns The message.
 * @throws {SpiffeError} `SPIFFE_ERR_NO_BUNDLE` when an SVID's own trust domain has no bundle;
 * `SPIFFE_ERR_PEM` when a private key PEM does not decode.
 * @example
 * ```ts
 * call.write(encodeX509SvidResponse([{ svid: source.current() }], bundleSet.x509Bundles()));
 * ```
 */
export function encodeX509SvidResponse(
  svids: readonly ServedX509Svid[],
  bundles: readonly X509Bundle[],
): X509SVIDResponse {
  const own = new Set(svids.map((s) => s.svid.id.trustDomain.name));
  const byDomain = new Map(bundles.map((b) => [b.trustDomain.name, b]));
  return create(X509SVIDResponseSchema, {
    svids: svids.map(({ svid, hint }) => {
      const bundle = byDomain.get(svid.id.trustDomain.name);
      if (bundle === undefined) {
        throw new SpiffeError(
          'SPIFFE_ERR_NO_BUNDLE',
          `no X.509 bundle for the SVID's own trust domain ${svid.id.trustDomain.name}`,
        );
      }
      return {
        spiffeId: svid.id.toString(),
        x509Svid: concatDer(svid.certificates),
        x509SvidKey: pkcs8Der(svid.privateKeyPem),
        bundle: concatDer(bundle.authorities),
        hint: hint ?? '',
      };
    }),
    federatedBundles: encodeX509BundleMap(bundles.filter((b) => !own.has(b.trustDomain.name))),
  });
}

/**
 * The DER inside a PKCS#8 `PRIVATE KEY` PEM (what {@link X509Svid.privateKeyPem} always holds): the
 * Workload API sends keys as PKCS#8 DER.
 *
 * @param pem - The PEM.
 * @returns The DER.
 * @throws {SpiffeError} `SPIFFE_ERR_PEM` for anything but one `PRIVATE KEY` block.
 */
function pkcs8Der(pem: string): Uint8Array {
  const blocks = decodePem(pem, { maxBlocks: 1 });
  const block = blocks.isOk() ? blocks.value[0] : undefined;
  if (block === undefined || block.label !== 'PRIVATE KEY')
    throw new SpiffeError('SPIFFE_ERR_PEM', 'the SVID key is not one PKCS#8 PRIVATE KEY block');
  return block.der;
}
