import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { type CertificateAuthority, createCertificateAuthority } from '../ca/certificate-authority.js';
import { SpiffeError } from '../codec/errors.js';
import type { X509Svid } from '../x509/svid.js';
import { createBackoff } from './backoff.js';
import { createRotatingSvidSource } from './rotating-svid-source.js';
import { staticSvidSource, svidSourceFromPem } from './svid-source.js';

const ID = 'spiffe://example.org/ns/default/sa/sleep';
const MIN = 60_000;
let ca: CertificateAuthority;

beforeAll(async () => {
  ca = await createCertificateAuthority({ trustDomain: 'example.org', now: () => Date.now() });
});

describe('createBackoff (ztunnel manager.rs: 500 ms, ×2, ±20 %, capped at 150 s)', () => {
  it('grows exponentially within the jitter band and caps', () => {
    const low = createBackoff({ random: () => 0 });
    const high = createBackoff({ random: () => 0.999999 });
    const expected = [500, 1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 150_000, 150_000];
    for (const base of expected) {
      expect(low.next()).toBeCloseTo(Math.min(base * 0.8, 150_000), 3);
      expect(high.next()).toBeCloseTo(Math.min(base * 1.2, 150_000), 1);
    }
    low.reset();
    expect(low.next()).toBeCloseTo(400, 5);
  });
  it('refuses nonsense options', () => {
    expect(() => createBackoff({ initialMs: 0 })).toThrow(RangeError);
    expect(() => createBackoff({ jitter: 1 })).toThrow(RangeError);
    expect(() => createBackoff({ multiplier: 0.5 })).toThrow(RangeError);
  });
});

describe('static sources', () => {
  it('staticSvidSource returns its SVID until closed', async () => {
    const svid = await ca.issue(ID);
    const source = staticSvidSource(svid);
    expect(source.current()).toBe(svid);
    const unsubscribe = source.subscribe(() => {});
    unsubscribe();
    source.close();
    expect(() => source.current()).toThrow(SpiffeError);
  });
  it('svidSourceFromPem validates the files and throws a coded error otherwise', async () => {
    const svid = await ca.issue(ID);
    expect(svidSourceFromPem(svid.certChainPem, svid.privateKeyPem).current().id.toString()).toBe(ID);
    const other = await ca.issue(ID);
    expect(() => svidSourceFromPem(svid.certChainPem, other.privateKeyPem)).toThrow(
      expect.objectContaining({ code: 'SPIFFE_ERR_KEY_MISMATCH' }),
    );
  });
});

describe('createRotatingSvidSource (ztunnel certificate.rs refresh_at, manager.rs retries)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: Date.UTC(2030, 0, 1) });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refreshes at half-life measured from NotBefore and emits the new SVID', async () => {
    let fetches = 0;
    const source = await createRotatingSvidSource({
      fetchSvid: () => {
        fetches++;
        return ca.issue(ID, { ttlMs: 60 * MIN });
      },
    });
    const first = source.current();
    // NotBefore = now - 2 min, NotAfter = now + 60 min: half-life is 31 min after NotBefore, i.e. now + 29 min.
    expect(source.nextRefreshAt()?.getTime()).toBe(first.notBefore.getTime() + 31 * MIN);
    const seen: X509Svid[] = [];
    source.subscribe((svid) => seen.push(svid));
    await vi.advanceTimersByTimeAsync(29 * MIN - 1000);
    expect(fetches).toBe(1);
    await vi.advanceTimersByTimeAsync(2000);
    expect(fetches).toBe(2);
    expect(seen).toHaveLength(1);
    expect(source.current()).toBe(seen[0]);
    expect(source.current()).not.toBe(first);
    source.close();
  });

  it('takes a configurable ratio or an explicit refresh time', async () => {
    const ratio = await createRotatingSvidSource({
      fetchSvid: () => ca.issue(ID, { ttlMs: 100 * MIN }),
      refreshRatio: 0.8,
    });
    const svid = ratio.current();
    expect(ratio.nextRefreshAt()?.getTime()).toBe(
      svid.notBefore.getTime() + 0.8 * (svid.notAfter.getTime() - svid.notBefore.getTime()),
    );
    ratio.close();
    const explicit = await createRotatingSvidSource({
      fetchSvid: () => ca.issue(ID),
      refreshAt: (s) => new Date(s.notAfter.getTime() - 5 * MIN),
    });
    expect(explicit.nextRefreshAt()?.getTime()).toBe(explicit.current().notAfter.getTime() - 5 * MIN);
    explicit.close();
    await expect(
      createRotatingSvidSource({ fetchSvid: () => ca.issue(ID), refreshRatio: 0 }),
    ).rejects.toBeInstanceOf(RangeError);
  });

  it('keeps serving the current SVID while fetches fail, retrying with exponential backoff', async () => {
    let fail = false;
    const attempts: number[] = [];
    const errors: SpiffeError[] = [];
    const source = await createRotatingSvidSource({
      fetchSvid: async () => {
        attempts.push(Date.now());
        if (fail) throw new Error('istiod unavailable');
        return ca.issue(ID, { ttlMs: 60 * MIN });
      },
      backoff: { random: () => 0.5 }, // no jitter: exactly 500, 1000, 2000…
      onError: (e) => errors.push(e),
    });
    const good = source.current();
    fail = true;
    await vi.advanceTimersByTimeAsync(29 * MIN);
    expect(attempts).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(500 + 1000 + 2000 + 4000);
    expect(attempts).toHaveLength(6);
    const gaps = attempts.slice(2).map((t, i) => t - (attempts[i + 1] as number));
    expect(gaps).toEqual([500, 1000, 2000, 4000]);
    expect(source.current()).toBe(good);
    expect(errors.every((e) => e.code === 'SPIFFE_ERR_FETCH_FAILED')).toBe(true);
    expect(errors[0]?.cause).toBeInstanceOf(Error);
    fail = false;
    await vi.advanceTimersByTimeAsync(8000);
    expect(source.current()).not.toBe(good);
    source.close();
  });

  it('never waits past the current SVID expiry to retry, and caps the interval at 150 s', async () => {
    let fail = false;
    const attempts: number[] = [];
    const source = await createRotatingSvidSource({
      fetchSvid: async () => {
        attempts.push(Date.now());
        if (fail) throw new Error('down');
        return ca.issue(ID, { ttlMs: 10 * MIN });
      },
      backoff: { random: () => 0.5 },
    });
    fail = true;
    const expiry = source.current().notAfter.getTime();
    await vi.advanceTimersByTimeAsync(60 * MIN);
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] as number));
    expect(Math.max(...gaps.slice(1))).toBeLessThanOrEqual(150_000);
    expect(attempts).toContain(expiry);
    source.close();
  });

  it('treats a timeout, an invalid SVID and an expired SVID as failures', async () => {
    const good = await ca.issue(ID);
    const other = await ca.issue(ID);
    const shortLived = await ca.issue(ID, { ttlMs: 1000 });
    const errors: string[] = [];
    let mode: 'hang' | 'mismatch' | 'expired' | 'ok' = 'hang';
    let sawAbort = false;
    const source = await createRotatingSvidSource({
      initial: good,
      fetchTimeoutMs: 1000,
      onError: (e) => errors.push(String((e.cause as SpiffeError | undefined)?.code ?? e.message)),
      fetchSvid: ({ signal }) => {
        if (mode === 'hang') {
          return new Promise((_, reject) =>
            signal.addEventListener('abort', () => {
              sawAbort = true;
              reject(signal.reason);
            }),
          );
        }
        if (mode === 'mismatch') return Promise.resolve({ ...good, privateKeyPem: other.privateKeyPem });
        if (mode === 'expired') return Promise.resolve(shortLived);
        return ca.issue(ID);
      },
    });
    const pending = source.refresh();
    const check = expect(pending).rejects.toMatchObject({ code: 'SPIFFE_ERR_FETCH_FAILED' });
    await vi.advanceTimersByTimeAsync(1001);
    await check;
    expect(sawAbort).toBe(true);
    mode = 'mismatch';
    await expect(source.refresh()).rejects.toMatchObject({ code: 'SPIFFE_ERR_FETCH_FAILED' });
    expect(errors.at(-1)).toBe('SPIFFE_ERR_KEY_MISMATCH');
    mode = 'expired'; // 1 s of fake time has passed: the 1 s SVID is no longer valid
    await expect(source.refresh()).rejects.toMatchObject({ code: 'SPIFFE_ERR_FETCH_FAILED' });
    expect(errors.at(-1)).toBe('SPIFFE_ERR_CERT_EXPIRED');
    expect(source.current().certChainPem).toBe(good.certChainPem);
    mode = 'ok';
    expect((await source.refresh()).id.toString()).toBe(ID);
    source.close();
  });

  it('waits for a first SVID, gives up after initialTimeoutMs, and honours an abort signal', async () => {
    let calls = 0;
    const eventually = createRotatingSvidSource({
      fetchSvid: async () => {
        if (++calls < 3) throw new Error('not yet');
        return ca.issue(ID);
      },
      backoff: { random: () => 0.5 },
    });
    await vi.advanceTimersByTimeAsync(1600);
    const source = await eventually;
    expect(calls).toBe(3);
    source.close();
    expect(() => source.current()).toThrow(expect.objectContaining({ code: 'SPIFFE_ERR_SOURCE_CLOSED' }));
    await expect(source.refresh()).rejects.toMatchObject({ code: 'SPIFFE_ERR_SOURCE_CLOSED' });

    const never = createRotatingSvidSource({
      fetchSvid: () => Promise.reject(new Error('down')),
      initialTimeoutMs: 5000,
    });
    const check = expect(never).rejects.toMatchObject({ code: 'SPIFFE_ERR_FETCH_FAILED' });
    await vi.advanceTimersByTimeAsync(5001);
    await check;

    const controller = new AbortController();
    const aborted = createRotatingSvidSource({
      fetchSvid: () => new Promise(() => {}),
      signal: controller.signal,
    });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'SPIFFE_ERR_SOURCE_CLOSED' });
  });

  it('close stops rotation and emission', async () => {
    let fetches = 0;
    const source = await createRotatingSvidSource({
      fetchSvid: () => {
        fetches++;
        return ca.issue(ID, { ttlMs: 10 * MIN });
      },
    });
    const listener = vi.fn();
    source.subscribe(listener);
    source.close();
    source.close();
    await vi.advanceTimersByTimeAsync(60 * MIN);
    expect(fetches).toBe(1);
    expect(listener).not.toHaveBeenCalled();
    expect(source.nextRefreshAt()).toBeUndefined();
  });
});
