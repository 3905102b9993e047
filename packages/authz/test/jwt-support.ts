/**
 * Signing keys and tokens for the RequestAuthentication tests: real key pairs (jose), well-formed tokens, and
 * the broken ones an attacker would send (alg none, HS256 with a secret or with the RSA public key, tampered,
 * malformed).
 * @module
 */
import { createHmac } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair, type JWK, SignJWT } from 'jose';

/** A signing key with its public JWK. */
export interface TestKey {
  readonly alg: 'RS256' | 'ES256' | 'EdDSA' | 'PS256';
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  /** The public key as SPKI PEM (for the HS256 confusion token). */
  readonly publicPem: string;
}

/**
 * Generates a key pair.
 *
 * @param alg - Algorithm.
 * @param kid - Key id published in the JWKS and the token header.
 * @returns The key.
 */
export async function makeKey(alg: TestKey['alg'], kid: string): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

/**
 * A JWKS document with the given keys.
 *
 * @param keys - Keys (or raw JWKs).
 * @returns JSON text.
 */
export function jwksOf(...keys: (TestKey | JWK)[]): string {
  return JSON.stringify({ keys: keys.map((k) => ('publicJwk' in k ? k.publicJwk : k)) });
}

/** Claims and header overrides for {@link sign}. */
export interface SignOptions {
  readonly claims?: Record<string, unknown>;
  /** Header fields; `kid: undefined` leaves the kid out. */
  readonly header?: Record<string, unknown>;
}

/**
 * Signs a token.
 *
 * @param key - The key.
 * @param options - Claims (merged over `iss`/`sub`) and header overrides.
 * @returns The compact JWT.
 */
export async function sign(key: TestKey, options: SignOptions = {}): Promise<string> {
  const header: Record<string, unknown> = { alg: key.alg, kid: key.kid, typ: 'JWT', ...options.header };
  for (const k of Object.keys(header)) if (header[k] === undefined) delete header[k];
  return new SignJWT({ ...options.claims })
    .setProtectedHeader(header as { alg: string })
    .sign(key.privateKey);
}

const b64 = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

/**
 * A token with `alg: none` and no signature section content.
 *
 * @param claims - The payload.
 * @returns `header.payload.` (Envoy splits it into two sections).
 */
export function unsecured(claims: Record<string, unknown>): string {
  return `${b64(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64(JSON.stringify(claims))}.`;
}

/**
 * An HS256 token signed with a shared secret (a string, or the RSA public key PEM for the alg-confusion attack).
 *
 * @param secret - The HMAC key.
 * @param claims - The payload.
 * @param kid - Header kid.
 * @returns The compact JWT.
 */
export function hs256(secret: string, claims: Record<string, unknown>, kid?: string): string {
  const header = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT', ...(kid === undefined ? {} : { kid }) }));
  const payload = b64(JSON.stringify(claims));
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/**
 * The same token with its payload replaced (the signature no longer matches).
 *
 * @param token - A signed token.
 * @param claims - The new payload.
 * @returns The tampered token.
 */
export function tamper(token: string, claims: Record<string, unknown>): string {
  const [h, , s] = token.split('.') as [string, string, string];
  return `${h}.${b64(JSON.stringify(claims))}.${s}`;
}
