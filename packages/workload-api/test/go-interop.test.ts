/**
 * The delta xDS server against an independent client: grpc-go on the stream, protobuf-go for every
 * message (test/go-xds-client). Subscribe by name and by `network/ip` alias, unsubscribe both, and check
 * that later changes are not pushed while a still-subscribed resource is; a type the server does not serve
 * is answered as istiod answers it.
 */
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ADDRESS_TYPE_URL,
  AUTHORIZATION_TYPE_URL,
  createAuthorization,
  createWorkloadStore,
} from '../src/index.js';
import { createXdsServer } from '../src/xds/index.js';
import { buildGoXdsClient, type GoXdsClient, startGoXdsClient } from './go-xds-client.js';
import { ECHO_KEY, echo, pod } from './helpers.js';

const NODE = 'ztunnel~10.0.0.100~ztunnel-x.istio-system~istio-system.svc.cluster.local';
const A = 'Kubernetes//Pod/default/a';
const B = 'Kubernetes//Pod/default/b';

let build: { binary: string; descriptors: string };
beforeAll(async () => {
  build = await buildGoXdsClient();
}, 300_000);
afterAll(() => rmSync(build.descriptors, { force: true }));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(): Promise<{ store: ReturnType<typeof createWorkloadStore>; go: GoXdsClient }> {
  const store = createWorkloadStore();
  store.apply({
    resources: [
      echo(),
      pod('a', '10.0.0.1'),
      pod('b', '10.0.0.2'),
      createAuthorization({ name: 'allow', namespace: 'default', scope: 'Namespace' }),
    ],
  });
  const server = createXdsServer({ store });
  const port = await server.listen('127.0.0.1:0');
  cleanups.push(() => server.close());
  const go = startGoXdsClient(build, `127.0.0.1:${port}`);
  cleanups.push(() => go.close());
  return { store, go };
}

describe('delta xDS server with a grpc-go client', () => {
  it('a wildcard subscription decodes with protobuf-go: every resource, keyed as its name says', async () => {
    const { go } = await setup();
    go.send({ typeUrl: ADDRESS_TYPE_URL, node: NODE });
    const r = await go.next();
    expect(r.event).toBe('response');
    expect(r.resources.map((x) => [x.name, x.key, x.error])).toEqual(
      expect.arrayContaining([
        [A, A, undefined],
        [B, B, undefined],
        [ECHO_KEY, ECHO_KEY, undefined],
      ]),
    );
    go.send({ typeUrl: ADDRESS_TYPE_URL, nonce: r.nonce ?? '' });
    go.send({ typeUrl: AUTHORIZATION_TYPE_URL });
    const z = await go.next();
    expect(z.resources.map((x) => x.key)).toEqual(['default/allow']);
  });

  it('honours resource_names_unsubscribe by name and by alias', async () => {
    const { store, go } = await setup();
    go.send({ typeUrl: ADDRESS_TYPE_URL, node: NODE, subscribe: ['*'], unsubscribe: ['*'] });
    const first = await go.next();
    expect(first.resources).toEqual([]);
    go.send({ typeUrl: ADDRESS_TYPE_URL, nonce: first.nonce ?? '' });

    go.send({ typeUrl: ADDRESS_TYPE_URL, subscribe: [A, '/10.0.0.2', ECHO_KEY] });
    const got = await go.next();
    expect(got.resources.map((r) => r.name).sort()).toEqual([A, B, ECHO_KEY].sort());
    expect(got.resources.find((r) => r.name === B)?.aliases).toEqual(['/10.0.0.2']);
    go.send({ typeUrl: ADDRESS_TYPE_URL, nonce: got.nonce ?? '' });

    go.send({ typeUrl: ADDRESS_TYPE_URL, unsubscribe: [A, '/10.0.0.2'] });
    const answer = await go.next();
    expect([answer.resources, answer.removed]).toEqual([[], []]);
    go.send({ typeUrl: ADDRESS_TYPE_URL, nonce: answer.nonce ?? '' });

    store.apply({ resources: [pod('a', '10.0.0.1', { node: 'node-b' })] });
    store.apply({ resources: [pod('b', '10.0.0.2', { node: 'node-b' })] });
    store.apply({ removed: [B] });
    store.apply({ resources: [echo({ canonical: true })] });
    const next = await go.next();
    expect(next.resources.map((r) => r.name)).toEqual([ECHO_KEY]);
    expect(next.removed).toEqual([]);
    go.send({ typeUrl: ADDRESS_TYPE_URL, nonce: next.nonce ?? '' });

    // A workload appearing at the unsubscribed alias is not pushed either; the subscribed service still is.
    store.apply({ resources: [pod('c', '10.0.0.2')] });
    store.apply({ resources: [echo({ canonical: false })] });
    const last = await go.next();
    expect(last.resources.map((r) => r.name)).toEqual([ECHO_KEY]);
  });

  it('answers an unserved type with an empty response naming the requested resources as removed', async () => {
    const { go } = await setup();
    const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
    go.send({ typeUrl: CLUSTER, node: NODE, subscribe: ['outbound|80||echo'] });
    const r = await go.next();
    expect(r).toMatchObject({
      event: 'response',
      typeUrl: CLUSTER,
      resources: [],
      removed: ['outbound|80||echo'],
    });
    expect(r.nonce).not.toBe('');
  });
});
