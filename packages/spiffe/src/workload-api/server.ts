/**
 * A SPIFFE Workload API server on @grpc/grpc-js: the agent's side of the protocol, as a SPIRE agent serves it
 * (spiffe/spiffe@665a28f3:standards/SPIFFE_Workload_API.md, SPIFFE_Workload_Endpoint.md). It serves one
 * identity, from an {@link SvidSource}, and the bundles of a {@link BundleSet}; it pushes every change
 * (an SVID rotation, a {@link WorkloadApiServer.publish} after a bundle change) to the open streams; it mints
 * and validates JWT-SVIDs with an ES256 key. docs/identity.md describes the protocol.
 *
 * It does not attest callers: whoever can open the socket gets the identity. Guard the socket with file
 * permissions, or mount it only where the identity belongs.
 * @module
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { lstat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { create, type DescMessage, type JsonObject as ProtoJsonObject, toBinary } from '@bufbuild/protobuf';
import {
  type Metadata,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import { base64UrlEncode } from '../codec/base64.js';
import type { BundleSet, JwtBundleSource } from '../codec/bundle-set.js';
import { quote, SpiffeError } from '../codec/errors.js';
import type { JsonObject, JsonValue } from '../codec/json.js';
import { jwkFromSpki, type PublicJwk } from '../codec/jwk.js';
import { createJwtBundle, type JwtBundle } from '../codec/jwt-bundle.js';
import { parseSpiffeId, type TrustDomain } from '../codec/spiffe-id.js';
import { debug } from '../diagnostics.js';
import {
  JWTBundlesResponseSchema,
  type JWTSVIDRequest,
  type JWTSVIDResponse,
  JWTSVIDResponseSchema,
  type ValidateJWTSVIDRequest,
  type ValidateJWTSVIDResponse,
  ValidateJWTSVIDResponseSchema,
  X509BundlesResponseSchema,
  X509SVIDResponseSchema,
} from '../gen/spiffe/workload/workload_pb.js';
import { signJwtSvid, validateJwtSvid } from '../jwt/jwt-svid.js';
import type { SvidSource } from '../svid/svid-source.js';
import { parseWorkloadApiAddress, type WorkloadApiAddress } from './address.js';
import { encodeJwtBundleMap, encodeX509BundleMap } from './bundle-map.js';
import { SECURITY_HEADER_KEY, SECURITY_HEADER_VALUE, spiffeWorkloadApiService } from './service.js';
import { encodeX509SvidResponse, MAX_HINT_BYTES } from './x509-context.js';

/** Lifetime of a minted JWT-SVID unless configured: 5 minutes, SPIRE's default JWT-SVID TTL. */
export const DEFAULT_JWT_SVID_TTL_MS: number = 5 * 60_000;
/** Default cap on the streams open at once. */
export const DEFAULT_MAX_WORKLOAD_API_STREAMS = 1024;
/** Largest request accepted: a JWT-SVID (16 KiB at most) and its audience fit with room to spare. */
export const MAX_WORKLOAD_API_REQUEST_BYTES: number = 64 * 1024;
/** Most audiences one `FetchJWTSVID` may ask for. */
export const MAX_JWT_AUDIENCES = 64;

/** Options of {@link createWorkloadApiServer}. */
export interface WorkloadApiServerOptions {
  /** The identity served to every caller; each rotation is pushed to the open `FetchX509SVID` streams. */
  readonly svid: SvidSource;
  /**
   * The trust bundles: the SVID's own trust domain (required) and any federated ones. Read on every message;
   * call {@link WorkloadApiServer.publish} after changing the set to push the change.
   */
  readonly bundles: BundleSet;
  /**
   * The key JWT-SVIDs are signed with: ES256, so an EC P-256 private key (PEM or `KeyObject`). Its public half
   * is served in the JWT bundle of the SVID's trust domain. Without it `FetchJWTSVID` answers UNIMPLEMENTED.
   */
  readonly jwtSigningKey?: KeyObject | string;
  /** The key's `kid`. Default: its RFC 7638 thumbprint. */
  readonly jwtKeyId?: string;
  /** Lifetime of minted JWT-SVIDs. Default {@link DEFAULT_JWT_SVID_TTL_MS}. */
  readonly jwtSvidTtlMs?: number;
  /** The hint sent with the SVID (at most 1024 bytes). Default none. */
  readonly hint?: string;
  /** Most streams open at once; more are refused with RESOURCE_EXHAUSTED. Default 1024. */
  readonly maxStreams?: number;
}

/** A Workload API server. */
export interface WorkloadApiServer {
  /**
   * Starts serving on an endpoint: a Unix socket path (bare, `unix:///path` or `unix:/path`) or
   * `tcp://IP:port` (port 0 for any). A stale socket file (nobody listening) is replaced; a live one is not.
   * @returns The endpoint a client uses (`unix:///path`, `tcp://IP:port` with the real port).
   * @throws {SpiffeError} (rejects) `SPIFFE_ERR_WORKLOAD_API_ADDRESS` for a bad address or one it cannot
   * listen on.
   */
  listen(socketPath: string): Promise<string>;
  /** Sends the current state to every open stream whose state changed (after a change to `bundles`). */
  publish(): void;
  /** The number of streams open now. */
  openStreams(): number;
  /**
   * Ends every open stream with UNAVAILABLE (clients reconnect with backoff), stops listening and removes the
   * socket files. The SVID source is not closed: it is the caller's. Idempotent.
   */
  close(): Promise<void>;
}

type StreamKind = 'x509' | 'x509Bundles' | 'jwtBundles';

interface OpenStream {
  readonly kind: StreamKind;
  readonly call: ServerWritableStream<unknown, unknown>;
  /** The encoding of the last message sent, to skip a push that changes nothing. */
  last: Uint8Array | undefined;
  /** A message held back while the stream is not draining; a newer one replaces it (each is the whole state). */
  pending: unknown;
}

interface SigningKey {
  readonly key: KeyObject;
  readonly keyId: string;
  readonly publicKey: PublicJwk;
}

function signingKey(input: KeyObject | string, keyId: string | undefined): SigningKey {
  let key: KeyObject;
  try {
    key = typeof input === 'string' ? createPrivateKey(input) : input;
  } catch (cause) {
    throw new TypeError('createWorkloadApiServer: jwtSigningKey is not a private key PEM', { cause });
  }
  if (
    typeof key !== 'object' ||
    key.type !== 'private' ||
    key.asymmetricKeyType !== 'ec' ||
    key.asymmetricKeyDetails?.namedCurve !== 'prime256v1'
  ) {
    throw new TypeError('createWorkloadApiServer: jwtSigningKey must be an EC P-256 private key (ES256)');
  }
  // Through SPKI DER, never a JWK export (see `crypto/keys.ts`).
  const spki = new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }));
  const jwk = jwkFromSpki(spki);
  if (jwk.isErr() || jwk.value.kty !== 'EC')
    throw new TypeError('createWorkloadApiServer: unusable jwtSigningKey');
  const { crv, x, y } = jwk.value;
  if (keyId !== undefined && (typeof keyId !== 'string' || keyId === ''))
    throw new TypeError('createWorkloadApiServer: jwtKeyId must be a non-empty string');
  // RFC 7638 section 3.2: the required members in lexicographic order, no whitespace.
  const thumbprint = createHash('sha256')
    .update(JSON.stringify({ crv, kty: 'EC', x, y }))
    .digest();
  return {
    key,
    keyId: keyId ?? base64UrlEncode(new Uint8Array(thumbprint)),
    publicKey: jwk.value,
  };
}

function hasSecurityHeader(metadata: Metadata): boolean {
  // Exactly one value, exactly `true` (as SPIRE checks it; SPIFFE_Workload_Endpoint.md, section 3).
  const values = metadata.get(SECURITY_HEADER_KEY);
  return values.length === 1 && values[0] === SECURITY_HEADER_VALUE;
}

const MISSING_HEADER = 'security header missing from request';

// Struct values are JSON numbers; a claim the strict parser read as a bigint (beyond 2^53) becomes a double.
function structValue(value: JsonValue): ProtoJsonObject[string] {
  if (typeof value === 'bigint') return Number(value);
  if (Array.isArray(value)) return value.map(structValue);
  if (value !== null && typeof value === 'object') return structObject(value);
  return value;
}
function structObject(object: JsonObject): ProtoJsonObject {
  const out: ProtoJsonObject = {};
  // defineProperty: a claim named `__proto__` stays a claim.
  for (const [key, value] of Object.entries(object))
    Object.defineProperty(out, key, {
      value: structValue(value),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return out;
}

/**
 * Creates a Workload API server (not yet listening).
 *
 * - Every call must carry `workload.spiffe.io: true`; one without it gets INVALID_ARGUMENT.
 * - `FetchX509SVID`: the SVID (chain as DER back to back, PKCS#8 DER key, hint), its trust domain's bundle,
 *   the other trust domains as `federated_bundles`; again on every rotation.
 * - `FetchX509Bundles`, `FetchJWTBundles`: every bundle, keyed `spiffe://td`; JWT bundles as JWK Sets with the
 *   signing key in the SVID's trust domain's set.
 * - `FetchJWTSVID`: a token for the SVID's identity; no audience → INVALID_ARGUMENT, another `spiffe_id` →
 *   PERMISSION_DENIED, no signing key → UNIMPLEMENTED.
 * - `ValidateJWTSVID`: the package's JWT-SVID validation against the JWT bundle of the token's trust domain;
 *   no audience or no token → INVALID_ARGUMENT, a token that does not validate → INVALID_ARGUMENT with the
 *   reason.
 * - The WIT-SVID methods, and any unknown method, answer UNIMPLEMENTED.
 *
 * @param options - The identity, the bundles, the JWT signing key.
 * @returns The server.
 * @throws {TypeError} For a malformed option (a signing key that is not EC P-256, a hint over 1024 bytes).
 * @throws {SpiffeError} `SPIFFE_ERR_NO_BUNDLE` when `bundles` has no X.509 bundle for the SVID's trust
 * domain; `SPIFFE_ERR_SOURCE_CLOSED` when the SVID source is closed.
 * @example
 * ```ts
 * const ca = await createCertificateAuthority({ trustDomain: 'example.org' });
 * const server = createWorkloadApiServer({
 *   svid: staticSvidSource(await ca.issue('spiffe://example.org/web')),
 *   bundles: createBundleSet([ca.bundle]),
 *   jwtSigningKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey,
 * });
 * const address = await server.listen('/tmp/agent.sock'); // 'unix:///tmp/agent.sock'
 * ```
 */
export function createWorkloadApiServer(options: WorkloadApiServerOptions): WorkloadApiServer {
  const { svid, bundles } = options;
  if (typeof svid?.current !== 'function' || typeof svid.subscribe !== 'function')
    throw new TypeError('createWorkloadApiServer: svid must be an SvidSource');
  if (typeof bundles?.x509Bundles !== 'function' || typeof bundles.jwtBundles !== 'function')
    throw new TypeError('createWorkloadApiServer: bundles must be a BundleSet');
  const hint = options.hint ?? '';
  if (typeof hint !== 'string' || new TextEncoder().encode(hint).length > MAX_HINT_BYTES)
    throw new TypeError(`createWorkloadApiServer: hint must be a string of at most ${MAX_HINT_BYTES} bytes`);
  const ttlMs = options.jwtSvidTtlMs ?? DEFAULT_JWT_SVID_TTL_MS;
  if (!(Number.isFinite(ttlMs) && ttlMs >= 1000))
    throw new RangeError('createWorkloadApiServer: jwtSvidTtlMs must be at least 1000');
  const maxStreams = options.maxStreams ?? DEFAULT_MAX_WORKLOAD_API_STREAMS;
  if (!(Number.isInteger(maxStreams) && maxStreams > 0))
    throw new RangeError('createWorkloadApiServer: maxStreams must be a positive integer');
  const signer =
    options.jwtSigningKey === undefined ? undefined : signingKey(options.jwtSigningKey, options.jwtKeyId);
  const ownTrustDomain = (): TrustDomain => svid.current().id.trustDomain;
  if (bundles.getX509BundleForTrustDomain(ownTrustDomain()) === undefined) {
    throw new SpiffeError(
      'SPIFFE_ERR_NO_BUNDLE',
      `createWorkloadApiServer: bundles has no X.509 bundle for the SVID's trust domain ${ownTrustDomain().name}`,
    );
  }

  // The JWT bundles as served and as used for validation: the set's, with the signing key added to the SVID's
  // own trust domain.
  const ownJwtBundle = (td: TrustDomain): JwtBundle | undefined => {
    const given = bundles.getJwtBundleForTrustDomain(td);
    if (signer === undefined) return given;
    const authorities = [...(given?.authorities.values() ?? [])].filter((a) => a.keyId !== signer.keyId);
    return createJwtBundle(td, [...authorities, { keyId: signer.keyId, publicKey: signer.publicKey }]);
  };
  const jwtBundleSource: JwtBundleSource = {
    getJwtBundleForTrustDomain: (td) =>
      signer !== undefined && td.name === ownTrustDomain().name
        ? ownJwtBundle(td)
        : bundles.getJwtBundleForTrustDomain(td),
  };
  // The server's own trust domain is always in the map (SPIFFE_Workload_API.md, section 6.2.2: at least that
  // bundle); without a key or a JWT bundle of its own it is an empty JWK Set, which trusts no token.
  const jwtBundleList = (): JwtBundle[] => {
    const own = ownTrustDomain();
    const list = bundles.jwtBundles().filter((b) => b.trustDomain.name !== own.name);
    list.unshift(ownJwtBundle(own) ?? createJwtBundle(own, []));
    return list;
  };

  const messages: Record<StreamKind, () => { message: unknown; schema: DescMessage }> = {
    x509: () => ({
      message: encodeX509SvidResponse([{ svid: svid.current(), hint }], bundles.x509Bundles()),
      schema: X509SVIDResponseSchema,
    }),
    x509Bundles: () => ({
      message: create(X509BundlesResponseSchema, { bundles: encodeX509BundleMap(bundles.x509Bundles()) }),
      schema: X509BundlesResponseSchema,
    }),
    jwtBundles: () => ({
      message: create(JWTBundlesResponseSchema, { bundles: encodeJwtBundleMap(jwtBundleList()) }),
      schema: JWTBundlesResponseSchema,
    }),
  };

  const grpcServer = new Server({
    'grpc.max_receive_message_length': MAX_WORKLOAD_API_REQUEST_BYTES,
  });
  const streams = new Set<OpenStream>();
  const socketFiles = new Set<string>();
  let closing: Promise<void> | undefined;

  const endStream = (call: ServerWritableStream<unknown, unknown>, code: status, details: string): void => {
    // grpc-js turns an 'error' event on a server stream into the call's status.
    call.emit('error', { code, details });
  };

  interface Built {
    readonly message: unknown;
    readonly bytes: Uint8Array;
  }
  const build = (kind: StreamKind): Built => {
    const { message, schema } = messages[kind]();
    return { message, bytes: toBinary(schema, message as never) };
  };

  const send = (stream: OpenStream, built: Built): void => {
    const { bytes } = built;
    if (stream.last !== undefined && Buffer.compare(stream.last, bytes) === 0) return;
    stream.last = bytes;
    if (stream.call.writableNeedDrain) {
      stream.pending = built.message;
      return;
    }
    stream.call.write(built.message);
  };

  const push = (kind: StreamKind): void => {
    const targets = [...streams].filter((s) => s.kind === kind);
    if (targets.length === 0) return;
    let built: Built;
    try {
      built = build(kind);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      debug('Workload API server: cannot build the %s state: %s', kind, why);
      for (const s of targets) endStream(s.call, status.UNAVAILABLE, `no state to serve: ${why}`);
      return;
    }
    for (const s of targets) send(s, built);
  };

  const publish = (): void => {
    if (closing !== undefined) return;
    push('x509');
    push('x509Bundles');
    push('jwtBundles');
  };
  const unsubscribe = svid.subscribe(() => publish());

  const openStream =
    (kind: StreamKind) =>
    (call: ServerWritableStream<unknown, unknown>): void => {
      if (!hasSecurityHeader(call.metadata)) {
        endStream(call, status.INVALID_ARGUMENT, MISSING_HEADER);
        return;
      }
      if (closing !== undefined) {
        endStream(call, status.UNAVAILABLE, 'the Workload API server is shutting down');
        return;
      }
      if (streams.size >= maxStreams) {
        endStream(call, status.RESOURCE_EXHAUSTED, 'too many open Workload API streams');
        return;
      }
      let built: Built;
      try {
        built = build(kind);
      } catch (error) {
        // An SVID source that is closed or a bundle that is gone: nothing to serve now, try again later
        // (SPIFFE_Workload_Endpoint.md, section 6: UNAVAILABLE).
        endStream(
          call,
          status.UNAVAILABLE,
          `no state to serve: ${error instanceof Error ? error.message : String(error)}`,
        );
        return;
      }
      const stream: OpenStream = { kind, call, last: undefined, pending: undefined };
      streams.add(stream);
      const forget = (): void => {
        streams.delete(stream);
      };
      call.on('cancelled', forget);
      call.on('close', forget);
      call.on('finish', forget);
      call.on('error', forget);
      call.on('drain', () => {
        const next = stream.pending;
        if (next === undefined) return;
        stream.pending = undefined;
        call.write(next);
      });
      // SPIFFE_Workload_API.md, section 4.3: the first message goes out at once.
      send(stream, built);
    };

  const fetchJwtSvid = (
    call: ServerUnaryCall<JWTSVIDRequest, JWTSVIDResponse>,
    callback: sendUnaryData<JWTSVIDResponse>,
  ): void => {
    if (!hasSecurityHeader(call.metadata)) {
      callback({ code: status.INVALID_ARGUMENT, details: MISSING_HEADER });
      return;
    }
    const { audience, spiffeId } = call.request;
    if (audience.length === 0 || audience.some((a) => a === '')) {
      callback({ code: status.INVALID_ARGUMENT, details: 'audience must be specified' });
      return;
    }
    if (audience.length > MAX_JWT_AUDIENCES) {
      callback({ code: status.INVALID_ARGUMENT, details: `more than ${MAX_JWT_AUDIENCES} audiences` });
      return;
    }
    let current: ReturnType<SvidSource['current']>;
    try {
      current = svid.current();
    } catch (error) {
      callback({ code: status.UNAVAILABLE, details: `no identity to serve: ${String(error)}` });
      return;
    }
    if (spiffeId !== '') {
      const requested = parseSpiffeId(spiffeId);
      if (requested.isErr()) {
        callback({
          code: status.INVALID_ARGUMENT,
          details: `invalid requested SPIFFE ID: ${requested.error.message}`,
        });
        return;
      }
      if (requested.value.toString() !== current.id.toString()) {
        callback({
          code: status.PERMISSION_DENIED,
          details: `no identity issued for ${quote(spiffeId)}`,
        });
        return;
      }
    }
    if (signer === undefined) {
      callback({
        code: status.UNIMPLEMENTED,
        details: 'this Workload API issues no JWT-SVIDs (no signing key)',
      });
      return;
    }
    const token = signJwtSvid({
      id: current.id,
      audience: audience.length === 1 ? (audience[0] as string) : audience,
      privateKey: signer.key,
      keyId: signer.keyId,
      algorithm: 'ES256',
      ttlMs,
    });
    callback(
      null,
      create(JWTSVIDResponseSchema, { svids: [{ spiffeId: current.id.toString(), svid: token, hint }] }),
    );
  };

  const validate = (
    call: ServerUnaryCall<ValidateJWTSVIDRequest, ValidateJWTSVIDResponse>,
    callback: sendUnaryData<ValidateJWTSVIDResponse>,
  ): void => {
    if (!hasSecurityHeader(call.metadata)) {
      callback({ code: status.INVALID_ARGUMENT, details: MISSING_HEADER });
      return;
    }
    const { audience, svid: token } = call.request;
    if (audience === '') {
      callback({ code: status.INVALID_ARGUMENT, details: 'audience must be specified' });
      return;
    }
    if (token === '') {
      callback({ code: status.INVALID_ARGUMENT, details: 'svid must be specified' });
      return;
    }
    const validated = validateJwtSvid(token, jwtBundleSource, [audience]);
    if (validated.isErr()) {
      callback({ code: status.INVALID_ARGUMENT, details: validated.error.message });
      return;
    }
    callback(
      null,
      create(ValidateJWTSVIDResponseSchema, {
        spiffeId: validated.value.id.toString(),
        claims: structObject(validated.value.claims),
      }),
    );
  };

  const unimplemented = (call: ServerWritableStream<unknown, unknown>): void => {
    if (!hasSecurityHeader(call.metadata)) {
      endStream(call, status.INVALID_ARGUMENT, MISSING_HEADER);
      return;
    }
    endStream(call, status.UNIMPLEMENTED, 'the WIT-SVID profile is not implemented');
  };

  grpcServer.addService(spiffeWorkloadApiService, {
    FetchX509SVID: openStream('x509'),
    FetchX509Bundles: openStream('x509Bundles'),
    FetchJWTBundles: openStream('jwtBundles'),
    FetchJWTSVID: fetchJwtSvid,
    ValidateJWTSVID: validate,
    FetchWITSVID: unimplemented,
    FetchWITBundles: unimplemented,
  });

  const listen = async (socketPath: string): Promise<string> => {
    if (closing !== undefined)
      throw new SpiffeError('SPIFFE_ERR_WORKLOAD_API_ADDRESS', 'the Workload API server is closed');
    const parsed: WorkloadApiAddress = (
      typeof socketPath === 'string' && socketPath.startsWith('/')
        ? parseWorkloadApiAddress(`unix://${socketPath}`)
        : parseWorkloadApiAddress(socketPath, { allowPortZero: true })
    ).match(
      (value) => value,
      (error) => {
        throw error;
      },
    );
    const target =
      parsed.kind === 'unix'
        ? `unix://${parsed.path}`
        : parsed.target.startsWith('ipv6:')
          ? `[${parsed.host}]:${parsed.port}`
          : `${parsed.host}:${parsed.port}`;
    if (parsed.kind === 'unix') await clearStaleSocket(parsed.path);
    const port = await new Promise<number>((resolve, reject) => {
      grpcServer.bindAsync(target, ServerCredentials.createInsecure(), (error, bound) => {
        if (error !== null)
          reject(
            new SpiffeError(
              'SPIFFE_ERR_WORKLOAD_API_ADDRESS',
              `the Workload API server cannot listen on ${parsed.uri}: ${error.message}`,
              { cause: error },
            ),
          );
        else resolve(bound);
      });
    });
    if (parsed.kind === 'unix') {
      socketFiles.add(parsed.path);
      debug('Workload API server listening on %s', parsed.uri);
      return parsed.uri;
    }
    const uri = parsed.host.includes(':') ? `tcp://[${parsed.host}]:${port}` : `tcp://${parsed.host}:${port}`;
    debug('Workload API server listening on %s', uri);
    return uri;
  };

  const close = (): Promise<void> => {
    if (closing !== undefined) return closing;
    closing = (async () => {
      unsubscribe();
      for (const s of [...streams])
        endStream(s.call, status.UNAVAILABLE, 'the Workload API server is shutting down');
      streams.clear();
      await new Promise<void>((resolve) => {
        // Give the statuses a moment to reach the clients, then drop whatever is left.
        const timer = setTimeout(() => {
          grpcServer.forceShutdown();
          resolve();
        }, 1000);
        grpcServer.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      for (const path of socketFiles) await unlink(path).catch(() => {});
      socketFiles.clear();
    })();
    return closing;
  };

  return Object.freeze({ listen, publish, openStreams: () => streams.size, close });
}

/**
 * Removes a socket file nobody listens on any more (a crashed agent's), so the server can bind again; refuses
 * a live socket and anything that is not a socket.
 *
 * @param path - The socket path.
 * @throws {SpiffeError} `SPIFFE_ERR_WORKLOAD_API_ADDRESS` when the path is taken.
 */
async function clearStaleSocket(path: string): Promise<void> {
  const stat = await lstat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (stat === undefined) return;
  if (!stat.isSocket()) {
    throw new SpiffeError(
      'SPIFFE_ERR_WORKLOAD_API_ADDRESS',
      `the Workload API server cannot listen on ${path}: the path exists and is not a socket`,
    );
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) {
    throw new SpiffeError(
      'SPIFFE_ERR_WORKLOAD_API_ADDRESS',
      `the Workload API server cannot listen on ${path}: another server is listening there`,
    );
  }
  await unlink(path);
}
