/**
 * Bearer-token authentication for the other gRPC services of the control plane (delta xDS), as a grpc-js
 * server interceptor: a call whose token no authenticator accepts ends with UNAUTHENTICATED before its
 * handler runs, as istiod ends an xDS stream it cannot authenticate
 * (istio/istio@86c9f01f:pilot/pkg/xds/ads.go `authenticate`). The CA method authenticates itself (it needs
 * the caller), so the interceptor leaves it alone.
 * @module
 */

import { CREATE_CERTIFICATE_PATH } from '@ambient-kit/spiffe/istio-ca';
import {
  Metadata,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  status,
} from '@grpc/grpc-js';
import { debug, publish } from '../diagnostics.js';
import type { Authenticator } from './authenticator.js';

/** Options of {@link bearerTokenInterceptor}. */
export interface BearerTokenInterceptorOptions {
  /**
   * Which methods need a token. Default: every method except `CreateCertificate`, which authenticates
   * itself.
   */
  readonly requireToken?: (methodPath: string) => boolean;
}

/**
 * A grpc-js server interceptor that refuses calls without an accepted bearer token (UNAUTHENTICATED,
 * "authentication failure"); the reason goes to the `call:refused` channel.
 *
 * @param authenticators - Tried in order; the first that identifies the caller admits the call.
 * @param options - Which methods it guards.
 * @returns The interceptor, for `new Server({ interceptors: [...] })`.
 * @example
 * ```ts
 * const server = new Server({ interceptors: [bearerTokenInterceptor([tokens])] });
 * createXdsServer({ store }).addTo(server);
 * ```
 */
export function bearerTokenInterceptor(
  authenticators: readonly Authenticator[],
  options: BearerTokenInterceptorOptions = {},
): ServerInterceptor {
  const requireToken = options.requireToken ?? ((path: string) => path !== CREATE_CERTIFICATE_PATH);
  return (method, call: ServerInterceptingCallInterface) => {
    if (!requireToken(method.path)) return new ServerInterceptingCall(call);
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, proceed) {
            const peer = call.getPeer();
            void (async () => {
              const reasons: string[] = [];
              for (const a of authenticators) {
                const r = await a.authenticate({ metadata, peer });
                if (r.isOk()) return undefined;
                reasons.push(`${a.name}: ${r.error}`);
              }
              return reasons.length === 0 ? 'no authenticator configured' : reasons.join('; ');
            })()
              .catch((e: unknown) => `the authenticator threw: ${String(e)}`)
              .then((refusal) => {
                if (refusal === undefined) {
                  proceed(metadata);
                  return;
                }
                debug('%s from %s refused: %s', method.path, peer, refusal);
                publish('callRefused', () => ({ method: method.path, reason: refusal, peer }));
                call.sendStatus({
                  code: status.UNAUTHENTICATED,
                  details: 'authentication failure',
                  metadata: new Metadata(),
                });
              });
          },
        });
      },
    });
  };
}
