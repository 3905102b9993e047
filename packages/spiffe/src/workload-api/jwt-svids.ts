/**
 * JWT-SVIDs as the Workload API hands them out (spiffe/spiffe@665a28f3:standards/SPIFFE_Workload_API.md,
 * section 6.2.1). A client does not verify the signature of a token its own agent minted; it reads it as
 * go-spiffe's `ParseInsecure` does (spiffe/go-spiffe@e9973f63:workloadapi/client.go `parseJWTSVIDs`):
 * structure, `exp` with leeway, an `aud` holding one of the requested audiences, and `sub` equal to the
 * entry's `spiffe_id`.
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { quote, SpiffeError } from '../codec/errors.js';
import { DEFAULT_JWT_LEEWAY_MS, type JwtSvid, parseJwtSvidInsecure } from '../codec/jwt-svid.js';
import type { SpiffeId } from '../codec/spiffe-id.js';
import type { JWTSVIDResponse } from '../gen/spiffe/workload/workload_pb.js';

/** A JWT-SVID as the Workload API delivers it: with its optional hint. */
export interface WorkloadJwtSvid extends JwtSvid {
  /** The operator's name for this identity, or `''`. */
  readonly hint: string;
}

/** What a received token must match. */
export interface JwtSvidExpectations {
  /** The audiences asked for; the token's `aud` must hold one of them. */
  readonly audience: readonly string[];
  /** The identity asked for, if one was. */
  readonly subject?: SpiffeId | undefined;
  /** The time to check `exp` at (default now). */
  readonly nowMs?: number;
}

/** Most JWT-SVIDs one response may carry. */
export const MAX_JWT_SVIDS_PER_RESPONSE = 256;

function badResponse(why: string, cause?: SpiffeError): SpiffeError {
  return new SpiffeError(
    'SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE',
    `invalid Workload API response: ${why}`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Reads a token the Workload API returned and checks it against what was asked: parsed without its signature,
 * not expired (with {@link DEFAULT_JWT_LEEWAY_MS}), for one of the audiences, of the expected subject.
 *
 * @param token - The compact JWS.
 * @param spiffeId - The `spiffe_id` the server gave with it.
 * @param expected - The audiences and the subject asked for.
 * @returns The parsed token, or `SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE` (the parse error as `cause`).
 * @example
 * ```ts
 * readIssuedJwtSvid(entry.svid, entry.spiffeId, { audience: ['api'] });
 * ```
 */
export function readIssuedJwtSvid(
  token: string,
  spiffeId: string,
  expected: JwtSvidExpectations,
): Result<JwtSvid, SpiffeError> {
  const parsed = parseJwtSvidInsecure(token);
  if (parsed.isErr()) return err(badResponse(`a JWT-SVID: ${parsed.error.message}`, parsed.error));
  const svid = parsed.value;
  const sub = svid.id.toString();
  if (sub !== spiffeId)
    return err(badResponse(`a JWT-SVID's sub ${quote(sub)} is not its spiffe_id ${quote(spiffeId)}`));
  if (expected.subject !== undefined && sub !== expected.subject.toString())
    return err(
      badResponse(`a JWT-SVID for ${quote(sub)}, not the requested ${quote(String(expected.subject))}`),
    );
  if (!svid.audience.some((a) => expected.audience.includes(a)))
    return err(
      badResponse(`a JWT-SVID for audience ${quote(svid.audience.join(' '))}, not the requested one`),
    );
  const nowMs = expected.nowMs ?? Date.now();
  if (svid.expiresAt.getTime() + DEFAULT_JWT_LEEWAY_MS <= nowMs)
    return err(badResponse(`a JWT-SVID that expired at ${svid.expiresAt.toISOString()}`));
  return ok(svid);
}

/**
 * Decodes a `FetchJWTSVID` answer: at least one token; of several with the same non-empty hint the first is
 * kept; each token read with {@link readIssuedJwtSvid}.
 *
 * @param message - The response.
 * @param expected - The audiences and the subject asked for.
 * @returns The tokens, the default first, or `SPIFFE_ERR_WORKLOAD_API_BAD_RESPONSE`.
 * @example
 * ```ts
 * const [svid] = decodeJwtSvidResponse(response, { audience: ['api'] })._unsafeUnwrap();
 * ```
 */
export function decodeJwtSvidResponse(
  message: JWTSVIDResponse,
  expected: JwtSvidExpectations,
): Result<WorkloadJwtSvid[], SpiffeError> {
  if (message.svids.length === 0) return err(badResponse('no JWT-SVID in the response'));
  if (message.svids.length > MAX_JWT_SVIDS_PER_RESPONSE)
    return err(badResponse(`more than ${MAX_JWT_SVIDS_PER_RESPONSE} JWT-SVIDs`));
  const hints = new Set<string>();
  const out: WorkloadJwtSvid[] = [];
  for (const entry of message.svids) {
    if (entry.hint !== '' && hints.has(entry.hint)) continue;
    hints.add(entry.hint);
    if (entry.spiffeId === '' || entry.svid === '')
      return err(badResponse('a JWT-SVID entry without spiffe_id or svid'));
    const svid = readIssuedJwtSvid(entry.svid, entry.spiffeId, expected);
    if (svid.isErr()) return err(svid.error);
    out.push(Object.freeze({ ...svid.value, hint: entry.hint }));
  }
  return ok(out);
}
