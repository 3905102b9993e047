/**
 * Keys for RequestAuthentication rules with a `jwksUri` (or only an `issuer`), fetched the way istiod's JWKS
 * resolver fetches them for the proxies it configures (istio/istio@86c9f01f:pilot/pkg/model/jwks_resolver.go;
 * `PILOT_JWT_ENABLE_REMOTE_JWKS` defaults to istiod fetching, pilot/pkg/features/pilot.go):
 *
 * - the first use fetches with the rule's `timeout` (default 5 s), no retry; concurrent first uses share the
 *   fetch; a body that is not a JSON object with a `keys` list is a failure (`validateJWKSFormat`);
 * - without keys, istiod configures a key set nothing verifies against (`PublicOnlyJwks`), so every token
 *   fails with 401, and retries in the background (up to 7 times, 1 s apart); when those fail too, the entry is
 *   dropped and the next use fetches again;
 * - every `refreshIntervalMs` (`PILOT_JWT_PUB_KEY_REFRESH_INTERVAL`, default 20 min) all entries are fetched
 *   again (with those retries); a failed refresh keeps the keys it had; after a failed round the next one comes
 *   after 1 min, doubling on each further failure up to 60 min, and back to the interval after a success;
 *   entries unused for 7 days are dropped;
 * - without a `jwksUri`, the issuer's OpenID discovery document (`<issuer>/.well-known/openid-configuration`)
 *   names it.
 *
 * One addition neither istiod nor Envoy make: a token whose `kid` the cached set lacks makes the resolver fetch
 * the set again at once (an issuer that rotated its key is honoured without waiting for the schedule); a fetch
 * that still lacks the `kid` starts a cool-down (`unknownKidCooldownMs`, default 30 s) during which unknown
 * `kid`s do not fetch, so tokens with made-up `kid`s cannot drive fetches.
 * @module
 */

import { PolicyError } from '../engine/errors.js';
import { type JwksKeySet, MAX_JWKS_BYTES, PUBLIC_ONLY_JWKS, parseJwks } from '../engine/jwks.js';
import type { JwksSource } from '../engine/jwt-authn.js';
import { type JwtRule, parseDurationMs } from '../engine/request-authentication.js';

/** Options of {@link createJwksResolver}. All durations in milliseconds. */
export interface JwksResolverOptions {
  /** `PILOT_JWT_PUB_KEY_REFRESH_INTERVAL`. Default 20 minutes. */
  readonly refreshIntervalMs?: number;
  /** The next refresh after a failed one (`JwtPubKeyRefreshIntervalOnFailure`). Default 1 minute. */
  readonly refreshIntervalOnFailureMs?: number;
  /** The cap of the doubling after failures (`JwtPubKeyRefreshIntervalOnFailureResetThreshold`). Default 60 min. */
  readonly maxRefreshIntervalOnFailureMs?: number;
  /** Pause between retries (`JwtPubKeyRetryInterval`). Default 1 s. */
  readonly retryIntervalMs?: number;
  /** Retries of a refresh or background fetch (`networkFetchRetryCountOnRefreshFlow`). Default 7. */
  readonly retries?: number;
  /** Drop entries unused (or not refreshed) for this long (`JwtPubKeyEvictionDuration`). Default 7 days. */
  readonly evictionMs?: number;
  /** Quiet time after a fetch for an unknown `kid` that did not find it. Default 30 s. */
  readonly unknownKidCooldownMs?: number;
  /** Fetch timeout when a rule gives none (istiod's default `timeout`). Default 5 s. */
  readonly defaultTimeoutMs?: number;
  /** Largest body read. Default 1 MiB. */
  readonly maxBytes?: number;
  /** The fetch to use. Default `globalThis.fetch`. */
  readonly fetch?: (url: string, init: { signal: AbortSignal }) => Promise<Response>;
  /** Told about every failed fetch (`AUTHZ_ERR_JWKS_FETCH`). */
  readonly onError?: (error: PolicyError) => void;
}

/** A JWKS cache; a {@link JwksSource} for `authenticateJwt`, `authenticateRequest` and the middleware. */
export interface JwksResolver extends JwksSource {
  /** How many HTTP fetches were started (discovery documents included). */
  readonly fetches: number;
  /** Runs the scheduled refresh now (what the timer does), resolving when it is done. */
  refresh(): Promise<void>;
  /** Stops the timers. Cached keys stay usable. */
  close(): void;
}

interface Entry {
  readonly issuer: string;
  readonly jwksUri: string;
  timeoutMs: number;
  keys: JwksKeySet | undefined;
  text: string | undefined;
  lastRefreshed: number;
  lastUsed: number;
  pending: Promise<void> | undefined;
  kidCooldownUntil: number;
  retrying: boolean;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Creates a resolver. Its timers are `unref`ed (they never keep a process alive); {@link JwksResolver.close}
 * stops them.
 *
 * @param options - Intervals, limits, the fetch to use, an error callback.
 * @returns The resolver.
 * @example
 * ```ts
 * const jwks = createJwksResolver({ onError: (e) => console.warn(String(e)) });
 * const authz = createAuthzMiddleware({ engine, workload, jwks });
 * ```
 */
export function createJwksResolver(options: JwksResolverOptions = {}): JwksResolver {
  const refreshIntervalMs = options.refreshIntervalMs ?? 20 * 60 * 1000;
  const onFailureMs = options.refreshIntervalOnFailureMs ?? 60 * 1000;
  const maxOnFailureMs = options.maxRefreshIntervalOnFailureMs ?? 60 * 60 * 1000;
  const retryIntervalMs = options.retryIntervalMs ?? 1000;
  const retries = options.retries ?? 7;
  const evictionMs = options.evictionMs ?? 7 * DAY_MS;
  const cooldownMs = options.unknownKidCooldownMs ?? 30 * 1000;
  const defaultTimeoutMs = options.defaultTimeoutMs ?? 5000;
  const maxBytes = options.maxBytes ?? MAX_JWKS_BYTES;
  const doFetch = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
  const entries = new Map<string, Entry>();
  let fetches = 0;
  let closed = false;
  let interval = refreshIntervalMs;
  let lastHadError = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let publicOnly: Promise<JwksKeySet> | undefined;
  const failedKeys = (): Promise<JwksKeySet> => {
    publicOnly ??= parseJwks(PUBLIC_ONLY_JWKS);
    return publicOnly;
  };

  const report = (message: string, cause?: unknown): void => {
    try {
      options.onError?.(
        new PolicyError('AUTHZ_ERR_JWKS_FETCH', message, cause === undefined ? {} : { cause }),
      );
    } catch {
      // A callback must not break key resolution.
    }
  };

  // GET with a timeout and a size cap; 2xx only (getRemoteContentWithRetry).
  const get = async (url: string, timeoutMs: number): Promise<string> => {
    fetches++;
    const response = await doFetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const reader = response.body?.getReader();
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (reader !== undefined) {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        size += value.byteLength;
        if (size > maxBytes) {
          await reader.cancel();
          throw new Error(`response is larger than ${maxBytes} bytes`);
        }
        chunks.push(value);
      }
    }
    const body = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      body.set(c, at);
      at += c.byteLength;
    }
    const text = new TextDecoder().decode(body);
    if (response.status < 200 || response.status >= 300) {
      throw new Error(`status ${response.status}, message ${JSON.stringify(text.slice(0, 100))}`);
    }
    return text;
  };

  // One fetch of an entry's keys (discovery first when there is no jwksUri), validated as istiod does.
  const fetchOnce = async (entry: Entry): Promise<string> => {
    let uri = entry.jwksUri;
    if (uri === '') {
      const discovery = `${entry.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const doc: unknown = JSON.parse(await get(discovery, entry.timeoutMs));
      const found =
        typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>)['jwks_uri'] : undefined;
      if (typeof found !== 'string')
        throw new Error(`invalid jwks_uri ${String(found)} in openID discovery configuration`);
      uri = found;
    }
    const text = await get(uri, entry.timeoutMs);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (cause) {
      throw new Error(`not valid JSON: ${cause instanceof Error ? cause.message : String(cause)}`);
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !Object.hasOwn(doc, 'keys')) {
      throw new Error('missing "keys" field');
    }
    if (!Array.isArray((doc as Record<string, unknown>)['keys'])) throw new Error('"keys" is not an array');
    return text;
  };

  const fetchWithRetry = async (entry: Entry, count: number): Promise<string> => {
    for (let i = 0; ; i++) {
      try {
        return await fetchOnce(entry);
      } catch (cause) {
        const where = entry.jwksUri === '' ? `issuer ${entry.issuer}` : entry.jwksUri;
        report(
          `cannot fetch JWKS from ${where}: ${cause instanceof Error ? cause.message : String(cause)}`,
          cause,
        );
        if (i >= count || closed) throw cause;
        await new Promise((r) => setTimeout(r, retryIntervalMs).unref());
      }
    }
  };

  // Stores a fetched body; the parse result is what requests verify against.
  const store = async (entry: Entry, text: string): Promise<void> => {
    if (text !== entry.text || entry.keys === undefined) entry.keys = await parseJwks(text);
    entry.text = text;
    entry.lastRefreshed = Date.now();
  };

  // The background retry after a failed first fetch (istiod's jwksuriChannel → refresh(true)).
  const retryInBackground = (key: string, entry: Entry): void => {
    if (entry.retrying || closed) return;
    entry.retrying = true;
    void (async () => {
      try {
        await new Promise((r) => setTimeout(r, retryIntervalMs).unref());
        await store(entry, await fetchWithRetry(entry, retries - 1));
      } catch {
        if (entry.keys === undefined && entries.get(key) === entry) entries.delete(key);
      } finally {
        entry.retrying = false;
      }
    })();
  };

  const entryFor = (rule: JwtRule): [string, Entry] => {
    const issuer = rule.issuer ?? '';
    const jwksUri = rule.jwksUri ?? '';
    const key = `${issuer}\u0000${jwksUri}`;
    const parsed = rule.timeout === undefined ? undefined : parseDurationMs(rule.timeout);
    const timeoutMs = parsed?.ok === true ? parsed.ms : defaultTimeoutMs;
    let entry = entries.get(key);
    const now = Date.now();
    if (entry === undefined) {
      entry = {
        issuer,
        jwksUri,
        timeoutMs,
        keys: undefined,
        text: undefined,
        lastRefreshed: now,
        lastUsed: now,
        pending: undefined,
        kidCooldownUntil: 0,
        retrying: false,
      };
      entries.set(key, entry);
      const fresh = entry;
      fresh.pending = (async () => {
        try {
          await store(fresh, await fetchWithRetry(fresh, 0));
        } catch {
          retryInBackground(key, fresh);
        } finally {
          fresh.pending = undefined;
        }
      })();
    } else {
      entry.timeoutMs = timeoutMs;
      entry.lastUsed = now;
    }
    return [key, entry];
  };

  const keys = async (rule: JwtRule): Promise<JwksKeySet> => {
    const [, entry] = entryFor(rule);
    if (entry.pending !== undefined) await entry.pending;
    return entry.keys ?? failedKeys();
  };

  const refreshForKid = async (rule: JwtRule, kid: string): Promise<JwksKeySet> => {
    const [, entry] = entryFor(rule);
    if (entry.pending !== undefined) await entry.pending;
    if (entry.keys?.kids.has(kid) === true) return entry.keys;
    if (Date.now() < entry.kidCooldownUntil || closed) return entry.keys ?? failedKeys();
    const run = (async () => {
      try {
        await store(entry, await fetchWithRetry(entry, 0));
      } catch {
        // The keys it had stay.
      }
      if (entry.keys?.kids.has(kid) !== true) entry.kidCooldownUntil = Date.now() + cooldownMs;
    })();
    const pending: Promise<void> = run.finally(() => {
      if (entry.pending === pending) entry.pending = undefined;
    });
    entry.pending = pending;
    await pending;
    return entry.keys ?? failedKeys();
  };

  // istiod refresher/refreshCache/refresh.
  const refresh = async (): Promise<void> => {
    let hadError = false;
    const now = Date.now();
    await Promise.all(
      [...entries].map(async ([key, entry]) => {
        if (now - entry.lastUsed >= evictionMs || now - entry.lastRefreshed >= evictionMs) {
          entries.delete(key);
          return;
        }
        if (entry.pending !== undefined) await entry.pending;
        try {
          await store(entry, await fetchWithRetry(entry, retries));
        } catch {
          hadError = true;
          if (entry.keys === undefined && entries.get(key) === entry) entries.delete(key);
        }
      }),
    );
    if (hadError) interval = lastHadError ? Math.min(interval * 2, maxOnFailureMs) : onFailureMs;
    else interval = refreshIntervalMs;
    lastHadError = hadError;
  };

  const schedule = (): void => {
    if (closed) return;
    timer = setTimeout(() => {
      void refresh().finally(schedule);
    }, interval);
    timer.unref();
  };
  schedule();

  return {
    get fetches(): number {
      return fetches;
    },
    keys,
    refreshForKid,
    refresh,
    close(): void {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
