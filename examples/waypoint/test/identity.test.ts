/**
 * The waypoint's own certificate, as the program gets it: a CSR to a real control plane
 * (`startControlPlane`, TLS, bearer tokens) with its own token and no impersonation, so the CA signs the
 * token's service account; a token of another service account yields a certificate for that account, which is
 * refused (fail closed), not served.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CaIssuedEvent,
  CONTROL_PLANE_CHANNELS,
  type ControlPlane,
  createIstioCa,
  createTokenAuthenticator,
  parseTokenFile,
  startControlPlane,
} from '@ambient-kit/control-plane';
import { caClientFromIstioCa, createCertificateManager } from '@ambient-kit/example-ztunnel';
import { createCertificateAuthority } from '@ambient-kit/spiffe';
import { createIstioCaClient } from '@ambient-kit/spiffe/istio-ca';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const WAYPOINT = 'spiffe://cluster.local/ns/default/sa/waypoint';
let dir: string;
let cp: ControlPlane;
let rootPem: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'waypoint-identity-'));
  const ca = createIstioCa(await createCertificateAuthority({ trustDomain: 'cluster.local' }));
  rootPem = ca.rootCertificatesPem;
  const tokens = parseTokenFile('wp-token default/waypoint\nsleep-token default/sleep\n')._unsafeUnwrap();
  cp = await startControlPlane({
    listen: '127.0.0.1:0',
    ca,
    authenticators: [createTokenAuthenticator(tokens, { trustDomain: 'cluster.local' })],
    store: createWorkloadStore(),
  });
});
afterAll(async () => {
  await cp?.close();
  await rm(dir, { recursive: true, force: true });
});

async function client(token: string) {
  const tokenFile = join(dir, `${token}.token`);
  await writeFile(tokenFile, token);
  return createIstioCaClient({
    address: cp.address,
    rootCertificatesPem: rootPem,
    tokenFile,
    tlsServerName: 'istiod.istio-system.svc',
  });
}

describe("the waypoint's certificate from the Istio CA", () => {
  it('is asked for with its own token, without ImpersonatedIdentity, and carries its identity', async () => {
    const events: CaIssuedEvent[] = [];
    const onIssued = (e: unknown): void => {
      events.push(e as CaIssuedEvent);
    };
    diagnosticsChannel.subscribe(CONTROL_PLANE_CHANNELS.caIssued, onIssued);
    const istio = await client('wp-token');
    const certs = createCertificateManager({
      ca: caClientFromIstioCa(istio, { impersonate: false }),
      ttlMs: 3600_000,
    });
    try {
      const svid = await certs.source(WAYPOINT);
      expect(svid.current().id.toString()).toBe(WAYPOINT);
      expect(events.map((e) => [e.id, e.caller, e.impersonated])).toEqual([[WAYPOINT, WAYPOINT, false]]);
    } finally {
      diagnosticsChannel.unsubscribe(CONTROL_PLANE_CHANNELS.caIssued, onIssued);
      certs.close();
      istio.close();
    }
  });

  it("with another service account's token: the CA signs that account, and the certificate is refused", async () => {
    const istio = await client('sleep-token');
    const errors: string[] = [];
    const certs = createCertificateManager({
      ca: caClientFromIstioCa(istio, { impersonate: false }),
      ttlMs: 3600_000,
      onError: (_id, error) => errors.push(`${error.message} ${String((error.cause as Error)?.message)}`),
    });
    try {
      const first = certs.source(WAYPOINT);
      first.catch(() => {});
      await expect.poll(() => errors.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
      expect(errors[0]).toContain(
        `the CA issued a certificate for spiffe://cluster.local/ns/default/sa/sleep, not ${WAYPOINT}`,
      );
      expect(certs.dump()[0]?.state).toBe('Initializing');
    } finally {
      certs.close();
      istio.close();
    }
  });
});
