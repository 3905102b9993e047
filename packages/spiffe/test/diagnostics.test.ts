/**
 * Observability (issue 10): the `ambient-kit:spiffe:<event>` diagnostics channels carry rotations, refresh
 * failures, TLS peer verdicts (over real handshakes) and issuances; `NODE_DEBUG=ambient-kit:spiffe` prints
 * them.
 */
import { spawnSync } from 'node:child_process';
import diagnosticsChannel from 'node:diagnostics_channel';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createCertificateAuthority } from '../src/ca/certificate-authority.js';
import { createBundleSet } from '../src/codec/bundle-set.js';
import { SpiffeError } from '../src/codec/errors.js';
import { authorizeMemberOf } from '../src/codec/matcher.js';
import {
  SPIFFE_CHANNELS,
  type SpiffePeerRejectedEvent,
  type SpiffePeerVerifiedEvent,
  type SpiffeSvidIssuedEvent,
  type SpiffeSvidRefreshFailedEvent,
  type SpiffeSvidRotatedEvent,
} from '../src/diagnostics.js';
import { createRotatingSvidSource } from '../src/svid/rotating-svid-source.js';
import { staticSvidSource } from '../src/svid/svid-source.js';
import { mtlsClientOptions } from '../src/tls/client.js';
import { bindMtlsServer, mtlsServerOptions } from '../src/tls/server.js';
import { closeServer, connect, listen } from './support/net.js';

const subscriptions: [string, (message: unknown) => void][] = [];
afterEach(() => {
  for (const [name, fn] of subscriptions.splice(0)) diagnosticsChannel.unsubscribe(name, fn);
});
function record<T>(name: string): T[] {
  const seen: T[] = [];
  const fn = (message: unknown): void => {
    seen.push(message as T);
  };
  diagnosticsChannel.subscribe(name, fn);
  subscriptions.push([name, fn]);
  return seen;
}

describe('diagnostics channels ambient-kit:spiffe:<event>', () => {
  it('names every channel after the package', () => {
    for (const name of Object.values(SPIFFE_CHANNELS))
      expect(name).toMatch(/^ambient-kit:spiffe:[a-z-]+:[a-z-]+$/);
  });

  it('a CA publishes each issuance; a rotating source its rotations and failures (onError still called)', async () => {
    const issued = record<SpiffeSvidIssuedEvent>(SPIFFE_CHANNELS.svidIssued);
    const rotated = record<SpiffeSvidRotatedEvent>(SPIFFE_CHANNELS.svidRotated);
    const failed = record<SpiffeSvidRefreshFailedEvent>(SPIFFE_CHANNELS.svidRefreshFailed);
    const ca = await createCertificateAuthority({ trustDomain: 'diag.test' });
    let fail = false;
    const errors: SpiffeError[] = [];
    const source = await createRotatingSvidSource({
      fetchSvid: async () => {
        if (fail) throw new Error('CA unreachable');
        return ca.issue('spiffe://diag.test/w', { ttlMs: 3_600_000 });
      },
      onError: (e) => errors.push(e),
    });
    expect(issued.map((e) => [e.id.toString(), e.via])).toEqual([['spiffe://diag.test/w', 'issue']]);
    expect(issued[0]?.serialNumber).toMatch(/^[0-9a-f]{32}$/);
    expect(rotated).toHaveLength(1);
    expect(rotated[0]?.svid).toBe(source.current());
    expect(rotated[0]?.nextRefreshAt?.getTime()).toBe(source.nextRefreshAt()?.getTime());
    fail = true;
    await expect(source.refresh()).rejects.toThrow(SpiffeError);
    expect(failed).toHaveLength(1);
    expect(failed[0]?.error.code).toBe('SPIFFE_ERR_FETCH_FAILED');
    expect(failed[0]?.current).toBe(source.current());
    expect(errors).toEqual([failed[0]?.error]);
    source.close();
  });

  it('TLS peers: verified and rejected peers are published with their role, over real handshakes', async () => {
    const verified = record<SpiffePeerVerifiedEvent>(SPIFFE_CHANNELS.peerVerified);
    const rejected = record<SpiffePeerRejectedEvent>(SPIFFE_CHANNELS.peerRejected);
    const ca = await createCertificateAuthority({ trustDomain: 'diag.test' });
    const other = await createCertificateAuthority({ trustDomain: 'other.test' });
    const bundles = createBundleSet([ca.bundle, other.bundle]);
    const config = {
      svid: staticSvidSource(await ca.issue('spiffe://diag.test/server')),
      bundles,
      authorize: authorizeMemberOf('diag.test'),
    };
    const server = tls.createServer(mtlsServerOptions(config), (s) => s.on('data', () => s.end('hi')));
    bindMtlsServer(server, config);
    const port = await listen(server);
    try {
      const clientOf = async (id: string) =>
        connect(
          port,
          mtlsClientOptions({
            svid: staticSvidSource(await (id.includes('other.test') ? other : ca).issue(id)),
            bundles,
            authorize: authorizeMemberOf('diag.test'),
          }),
        );
      expect((await clientOf('spiffe://diag.test/client')).received).toBe('hi');
      expect((await clientOf('spiffe://other.test/client')).received).toBe('');
    } finally {
      await closeServer(server);
    }
    // The client checked the server (role serverAuth, no socket yet); the server checked the client.
    expect(verified.map((e) => [e.peerRole, e.peer.id.toString(), e.socket !== undefined])).toEqual(
      expect.arrayContaining([
        ['serverAuth', 'spiffe://diag.test/server', false],
        ['clientAuth', 'spiffe://diag.test/client', true],
      ]),
    );
    expect(rejected.map((e) => [e.peerRole, e.error.code])).toEqual([
      ['clientAuth', 'SPIFFE_ERR_TRUST_DOMAIN_MISMATCH'],
    ]);
  });

  it('NODE_DEBUG=ambient-kit:spiffe prints debug lines', () => {
    const script = fileURLToPath(new URL('./support/issue-loop.ts', import.meta.url));
    const run = spawnSync(process.execPath, ['--import', 'tsx', script, '1'], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { ...process.env, NODE_DEBUG: 'ambient-kit:spiffe' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(
      /AMBIENT-KIT:SPIFFE \d+: issued spiffe:\/\/cluster\.local\/ns\/default\/sa\/sa-0 \(issue\)/,
    );
  });
});
