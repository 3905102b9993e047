import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { SOAK_TAG, soakScale } from '../../../test-support/soak.js';
import { HBONE_DEFAULTS, type HboneStream } from '../src/index.js';
import { collect, type Harness, harness, useEchoServer, waitFor } from './fixtures.js';

// Issue 18 item 2: two ambient-kit ends, default windows (4 MiB stream, 16 MiB connection), echo upstreams,
// bytes flowing both ways at once on one pooled connection. With node:http2 on both ends this deadlocked:
// each end stopped reading its socket while one of its own writes was pending. Each end now reads its socket
// whatever it is writing, so this completes whatever the peer does.

const echo = useEchoServer();
// 1,000 tunnels in `npm run test:soak`; 200 (two pooled connections) in `npm test`.
const TUNNELS = soakScale(200, 1000);
let h: Harness | undefined;

afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Sends `payload` through a tunnel to the echo and checks every byte comes back, reading as it writes. */
async function echoThrough(tunnel: HboneStream, payload: Buffer): Promise<void> {
  const reading = collect(tunnel);
  tunnel.end(payload);
  const back = await reading;
  if (!back.equals(payload)) throw new Error(`${back.length} bytes back of ${payload.length}`);
}

describe('bidirectional load with the default windows', () => {
  it('4 tunnels on one pooled connection, 4 MiB each to an echo: every byte back', {
    timeout: 60_000,
  }, async () => {
    expect([HBONE_DEFAULTS.streamWindowBytes, HBONE_DEFAULTS.connectionWindowBytes]).toEqual([
      4 << 20,
      16 << 20,
    ]);
    h = await harness();
    const target = h;
    const tunnels = await Promise.all(
      Array.from({ length: 4 }, () =>
        target.client.connect({
          via: target.via,
          authority: `127.0.0.1:${echo.port}`,
          expectedIdentities: [target.pki.serverId],
        }),
      ),
    );
    // One connection carries all four (the pool's limit is 100 streams).
    expect(target.client.pool.stats()).toMatchObject({ connections: 1, handshakes: 1, streams: 4 });
    await Promise.all(tunnels.map((tunnel) => echoThrough(tunnel, randomBytes(4 << 20))));
    // Nothing is left behind: the connection is idle in the pool, not draining, and the server has no tunnel.
    await waitFor(() => target.server.stats().streams === 0, 'the server to close every tunnel');
    expect(target.client.pool.stats()).toMatchObject({ connections: 1, drainingConnections: 0, streams: 0 });
    expect(target.server.stats()).toMatchObject({ connections: 1, bufferedBytes: 0 });
  });

  it(`${TUNNELS} tunnels × 256 KiB on ${TUNNELS / 100} connections: every byte back ${SOAK_TAG}`, {
    timeout: 120_000,
  }, async () => {
    h = await harness();
    const target = h;
    const payload = randomBytes(256 << 10);
    await Promise.all(
      Array.from({ length: TUNNELS }, async (_, i) => {
        const tunnel = await target.client.connect({
          via: target.via,
          authority: `127.0.0.1:${echo.port}`,
          expectedIdentities: [target.pki.serverId],
        });
        // A distinct payload per tunnel (rotated), so that crossed streams would show.
        const offset = (i * 4099) % payload.length;
        await echoThrough(tunnel, Buffer.concat([payload.subarray(offset), payload.subarray(0, offset)]));
      }),
    );
    expect(target.client.pool.stats().handshakes).toBe(TUNNELS / 100);
    await waitFor(() => target.server.stats().streams === 0, 'the server to close every tunnel');
    expect(target.client.pool.stats()).toMatchObject({ drainingConnections: 0, streams: 0 });
  });
});
