/**
 * The Istio CA service on grpc-js, `istio.v1.auth.IstioCertificateService/CreateCertificate`, answering as
 * istiod answers (istio/istio@0098d99f:security/pkg/server/ca/server.go): authenticate the caller (else
 * UNAUTHENTICATED "request authenticate failure"); take the SAN from the caller, never from the CSR;
 * honour `ImpersonatedIdentity` only for a trusted node account (else UNAUTHENTICATED "request
 * impersonation authentication failure"); a CSR or TTL the CA refuses is INVALID_ARGUMENT, anything else
 * INTERNAL (security/pkg/pki/error/error.go); the chain leaf first, root last, each certificate its own
 * element ending with a newline. Callers only see istiod's opaque messages; the reasons go to the
 * `ca:refused` channel.
 * @module
 */

import { isSpiffeError, type SpiffeErrorCode } from '@ambient-kit/spiffe/codec';
import {
  IMPERSONATED_IDENTITY_KEY,
  type IstioCertificateRequest,
  type IstioCertificateResponse,
  IstioCertificateResponseSchema,
  istioCertificateService,
} from '@ambient-kit/spiffe/istio-ca';
import { create } from '@bufbuild/protobuf';
import {
  type handleUnaryCall,
  type Server,
  type ServerUnaryCall,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import { debug, publish } from '../diagnostics.js';
import type { Authenticator, CaCaller } from './authenticator.js';
import type { IstioCa } from './istio-ca.js';
import { createNodeAuthorizer, type NodeAuthorizer } from './node-authorizer.js';

/** Options of {@link createIstioCertificateService}. */
export interface IstioCertificateServiceOptions {
  /** The signer. */
  readonly ca: IstioCa;
  /** Who may call: the first authenticator that identifies the caller wins, as in istiod. */
  readonly authenticators: readonly Authenticator[];
  /**
   * Who may impersonate. Default: `istio-system/ztunnel` (the `CA_TRUSTED_NODE_ACCOUNTS` Istio's charts set
   * for ambient), without the per-node check.
   */
  readonly nodeAuthorizer?: NodeAuthorizer;
}

/** The CA service, ready to add to a grpc-js server. */
export interface IstioCertificateService {
  /** The `CreateCertificate` handler. */
  readonly handler: handleUnaryCall<IstioCertificateRequest, IstioCertificateResponse>;
  /** Adds the service to a grpc-js server. */
  addTo(server: Server): void;
}

/** The CA's refusals that are the request's fault: istiod's CSRError and TTLError, INVALID_ARGUMENT. */
const REQUEST_ERRORS: ReadonlySet<SpiffeErrorCode> = new Set<SpiffeErrorCode>([
  'SPIFFE_ERR_CSR',
  'SPIFFE_ERR_CSR_SIGNATURE',
  'SPIFFE_ERR_PEM',
  'SPIFFE_ERR_DER',
  'SPIFFE_ERR_TOO_LARGE',
  'SPIFFE_ERR_UNSUPPORTED_ALGORITHM',
  'SPIFFE_ERR_TTL_TOO_LONG',
  'SPIFFE_ERR_TRUST_DOMAIN_MISMATCH',
  'SPIFFE_ERR_LEAF_ID_NO_PATH',
]);

// `validity_duration` is an int64 of seconds; anything this large is refused as too long by the CA.
const MAX_SECONDS = BigInt(Math.floor(Number.MAX_SAFE_INTEGER / 1000));

/**
 * Creates the Istio CA service.
 *
 * @param options - Signer, authenticators, node authorizer.
 * @returns The service (`addTo(server)`).
 * @example
 * ```ts
 * const service = createIstioCertificateService({ ca: await loadPluggedCa('/etc/cacerts'), authenticators: [tokens] });
 * service.addTo(grpcServer);
 * ```
 */
export function createIstioCertificateService(
  options: IstioCertificateServiceOptions,
): IstioCertificateService {
  const nodes =
    options.nodeAuthorizer ??
    createNodeAuthorizer({
      trustedNodeAccounts: [{ namespace: 'istio-system', serviceAccount: 'ztunnel' }],
      trustDomain: options.ca.trustDomain,
    });

  async function authenticate(
    call: ServerUnaryCall<IstioCertificateRequest, unknown>,
  ): Promise<CaCaller | string> {
    const reasons: string[] = [];
    for (const a of options.authenticators) {
      const r = await a.authenticate({ metadata: call.metadata, peer: call.getPeer() });
      if (r.isOk()) return r.value;
      reasons.push(`${a.name}: ${r.error}`);
    }
    return reasons.length === 0 ? 'no authenticator configured' : reasons.join('; ');
  }

  const handler: handleUnaryCall<IstioCertificateRequest, IstioCertificateResponse> = (
    call: ServerUnaryCall<IstioCertificateRequest, IstioCertificateResponse>,
    callback: sendUnaryData<IstioCertificateResponse>,
  ) => {
    const peer = call.getPeer();
    const refuse = (
      code: number,
      details: string,
      reason: string,
      extra: { caller?: string; impersonate?: string } = {},
    ): void => {
      debug('CreateCertificate from %s refused: %s', peer, reason);
      publish('caRefused', () => ({ code, reason, peer, ...extra }));
      callback({ code, details });
    };
    void (async () => {
      const caller = await authenticate(call);
      if (typeof caller === 'string') {
        refuse(status.UNAUTHENTICATED, 'request authenticate failure', caller);
        return;
      }
      const callerId = caller.identities[0] as string;
      // istiod reads the field with GetStringValue(): anything but a non-empty string is "not set".
      const asked = call.request.metadata?.[IMPERSONATED_IDENTITY_KEY];
      const impersonate = typeof asked === 'string' && asked !== '' ? asked : undefined;
      let id = callerId;
      if (impersonate !== undefined) {
        const allowed = nodes.authorize(caller, impersonate);
        if (allowed.isErr()) {
          refuse(status.UNAUTHENTICATED, 'request impersonation authentication failure', allowed.error, {
            caller: callerId,
            impersonate,
          });
          return;
        }
        id = allowed.value;
      }
      const seconds = call.request.validityDuration;
      const ttlMs =
        seconds <= 0n ? undefined : seconds > MAX_SECONDS ? Number.MAX_SAFE_INTEGER : Number(seconds) * 1000;
      try {
        const signed = await options.ca.sign(call.request.csr, {
          id,
          ...(ttlMs === undefined ? {} : { ttlMs }),
        });
        debug('CreateCertificate from %s (%s): issued %s', peer, callerId, signed.id);
        publish('caIssued', () => ({
          id: signed.id,
          caller: callerId,
          impersonated: impersonate !== undefined,
          notAfter: signed.notAfter,
          peer,
        }));
        callback(null, create(IstioCertificateResponseSchema, { certChain: signed.certChain }));
      } catch (e) {
        const code =
          isSpiffeError(e) && REQUEST_ERRORS.has(e.code) ? status.INVALID_ARGUMENT : status.INTERNAL;
        const message = e instanceof Error ? e.message : String(e);
        refuse(code, `CSR signing error (${message})`, message, {
          caller: callerId,
          ...(impersonate === undefined ? {} : { impersonate }),
        });
      }
    })().catch((e: unknown) => {
      // A pluggable authenticator that throws: the call still ends, closed.
      refuse(status.INTERNAL, 'internal error', `the authenticator threw: ${String(e)}`);
    });
  };

  return {
    handler,
    addTo(server) {
      server.addService(istioCertificateService, { CreateCertificate: handler });
    },
  };
}
