/**
 * The xDS server's encode cache (issue 15): every resource is encoded once, when the server starts or the
 * resource changes, and every stream sends those bytes; and what a stream gets from the cache is what a
 * fresh encoding of the store gives.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import * as encoder from '../src/codec/address-encoder.js';
import {
  ADDRESS_TYPE_URL,
  AUTHORIZATION_TYPE_URL,
  createAuthorization,
  createWorkloadStore,
  type MeshResource,
  type WorkloadStore,
} from '../src/index.js';
import { createXdsClient, createXdsServer, type XdsClient } from '../src/xds/index.js';
import { echo, pod, until } from './helpers.js';

// Counts the encodings the server makes, without changing them.
vi.mock('../src/codec/address-encoder.js', async (original) => {
  const real = await original<typeof import('../src/codec/address-encoder.js')>();
  return { ...real, writeAddressView: vi.fn(real.writeAddressView) };
});
const encodeAddress = vi.mocked(encoder.writeAddressView);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(store: WorkloadStore): Promise<number> {
  const server = createXdsServer({ store });
  cleanups.push(() => server.close());
  return server.listen('127.0.0.1:0');
}

async function follow(port: number): Promise<{ client: XdsClient; store: WorkloadStore }> {
  const store = createWorkloadStore();
  const client = createXdsClient({ address: `127.0.0.1:${port}`, store });
  cleanups.push(() => client.close());
  await client.ready({ timeoutMs: 10_000 });
  return { client, store };
}

describe('xDS server encode cache', () => {
  it('encodes each resource once, at start and on change, never per connection', async () => {
    const store = createWorkloadStore();
    const resources: MeshResource[] = [echo()];
    for (let i = 0; i < 20; i++) resources.push(pod(`p${i}`, `10.244.0.${i + 1}`));
    store.apply({ resources });
    encodeAddress.mockClear();
    const port = await serve(store);
    expect(encodeAddress).toHaveBeenCalledTimes(21);
    for (let i = 0; i < 3; i++) await follow(port);
    expect(encodeAddress).toHaveBeenCalledTimes(21);
    store.apply({ resources: [pod('p0', '10.244.9.9')] });
    expect(encodeAddress).toHaveBeenCalledTimes(22);
  });

  it('sends what a fresh encoding of the store gives, after any sequence of changes', async () => {
    const op = fc.record({
      pod: fc.integer({ min: 0, max: 5 }),
      ip: fc.integer({ min: 1, max: 250 }),
      remove: fc.boolean(),
      policy: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        const store = createWorkloadStore();
        store.apply({ resources: [echo(), pod('p0', '10.244.0.1')] });
        const port = await serve(store);
        const early = await follow(port);
        for (const o of ops) {
          const name = `p${o.pod}`;
          if (o.policy) {
            store.apply({
              resources: [
                createAuthorization({
                  name,
                  namespace: 'default',
                  groups: [{ rules: [{ matches: [{ destinationPorts: [o.ip] }] }] }],
                }),
              ],
            });
          } else if (o.remove) store.apply({ removed: [`Kubernetes//Pod/default/${name}`] });
          else store.apply({ resources: [pod(name, `10.244.1.${o.ip}`)] });
        }
        // A client that followed every change, one that connects now, one of a server that encodes anew.
        const late = await follow(port);
        const fresh = await follow(await serve(store));
        for (const type of [ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL]) {
          const expected = new Map(fresh.client.knownResources(type));
          await until(
            () =>
              JSON.stringify([...early.client.knownResources(type)].sort()) ===
              JSON.stringify([...expected].sort()),
            'the early client to catch up',
          );
          expect(new Map(late.client.knownResources(type))).toEqual(expected);
        }
        const byUid = (s: WorkloadStore): unknown[] =>
          [...s.workloads()].sort((a, b) => a.uid.localeCompare(b.uid));
        expect(byUid(late.store)).toEqual(byUid(fresh.store));
        expect(byUid(early.store)).toEqual(byUid(store));
        expect([...early.store.policies()].sort((a, b) => a.key.localeCompare(b.key))).toEqual(
          [...store.policies()].sort((a, b) => a.key.localeCompare(b.key)),
        );
        for (const c of cleanups.splice(0).reverse()) await c();
      }),
      { numRuns: 15 },
    );
  });
});
