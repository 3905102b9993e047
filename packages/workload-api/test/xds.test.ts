/**
 * Delta xDS client <-> server over a real gRPC connection on loopback (@grpc/grpc-js on both ends).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import {
  Client,
  credentials,
  Server,
  ServerCredentials,
  type ServerDuplexStream,
  status,
} from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADDRESS_TYPE_URL,
  AUTHORIZATION_TYPE_URL,
  createAuthorization,
  createWorkload,
  createWorkloadStore,
  type DeltaDiscoveryRequest,
  DeltaDiscoveryRequestSchema,
  type DeltaDiscoveryResponse,
  DeltaDiscoveryResponseSchema,
  encodeAddress,
  type WorkloadStore,
} from '../src/index.js';
import {
  aggregatedDiscoveryService,
  createXdsClient,
  createXdsServer,
  DELTA_ADS_PATH,
  deltaAdsMethod,
  WORKLOAD_API_CHANNELS,
  type XdsClient,
  type XdsServer,
  type XdsServerConnectedEvent,
  type XdsServerNackEvent,
  type XdsServerPushEvent,
  ztunnelNode,
} from '../src/xds/index.js';
import { echo, pod, until } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve(
  store: WorkloadStore,
  address = '127.0.0.1:0',
): Promise<{ server: XdsServer; port: number }> {
  const server = createXdsServer({ store });
  const port = await server.listen(address);
  cleanups.push(() => server.close());
  return { server, port };
}

/** The messages one server publishes on a diagnostics channel, collected until the test ends. */
function recorded<T extends { serverId: number }>(
  server: XdsServer,
  channel: (typeof WORKLOAD_API_CHANNELS)[keyof typeof WORKLOAD_API_CHANNELS],
): T[] {
  const out: T[] = [];
  const listener = (message: unknown): void => {
    if ((message as T).serverId === server.id) out.push(message as T);
  };
  diagnosticsChannel.subscribe(channel, listener);
  cleanups.push(() => void diagnosticsChannel.unsubscribe(channel, listener));
  return out;
}

function connect(
  port: number,
  store: WorkloadStore,
  extra: Partial<Parameters<typeof createXdsClient>[0]> = {},
): XdsClient {
  const client = createXdsClient({
    address: `127.0.0.1:${port}`,
    store,
    node: ztunnelNode({
      instanceIp: '10.0.0.100',
      podName: 'ztunnel-x',
      podNamespace: 'istio-system',
      nodeName: 'node-a',
    }),
    ...extra,
  });
  cleanups.push(() => client.close());
  return client;
}

function mesh(): WorkloadStore {
  const store = createWorkloadStore();
  store.apply({
    resources: [
      echo(),
      pod('a', '10.0.0.1'),
      pod('b', '10.0.0.2'),
      createAuthorization({
        name: 'allow-sleep',
        namespace: 'default',
        scope: 'Namespace',
        groups: [{ rules: [{ matches: [{ destinationPorts: [8080] }] }] }],
      }),
    ],
  });
  return store;
}

describe('delta xDS client and server', () => {
  it('initial sync: the client store mirrors the server store and the node is ztunnel-shaped', async () => {
    const source = mesh();
    const { server, port } = await serve(source);
    const nodes = recorded<XdsServerConnectedEvent>(server, WORKLOAD_API_CHANNELS.serverConnected);
    const replica = createWorkloadStore();
    const client = connect(port, replica);
    await client.ready({ timeoutMs: 5000 });
    expect(replica.stats()).toEqual(source.stats());
    expect(replica.workload('Kubernetes//Pod/default/a')).toEqual(
      source.workload('Kubernetes//Pod/default/a'),
    );
    expect(replica.service('default/echo.default.svc.cluster.local')).toEqual(
      source.service('default/echo.default.svc.cluster.local'),
    );
    expect(replica.policy('default/allow-sleep')).toEqual(source.policy('default/allow-sleep'));
    expect(replica.endpoints('default/echo.default.svc.cluster.local').size).toBe(2);
    expect(nodes[0]?.node?.id).toBe(
      'ztunnel~10.0.0.100~ztunnel-x.istio-system~istio-system.svc.cluster.local',
    );
    expect(nodes[0]?.node?.metadata).toMatchObject({
      NAME: 'ztunnel-x',
      NAMESPACE: 'istio-system',
      INSTANCE_IPS: '10.0.0.100',
      NODE_NAME: 'node-a',
    });
    expect(client.knownResources(ADDRESS_TYPE_URL).size).toBe(3);
    expect(client.knownResources(AUTHORIZATION_TYPE_URL).size).toBe(1);
  });

  it('pushes only deltas, to every client: update and removal', async () => {
    const source = mesh();
    const { server, port } = await serve(source);
    const pushes = recorded<XdsServerPushEvent>(server, WORKLOAD_API_CHANNELS.serverPush);
    const replicas = [createWorkloadStore(), createWorkloadStore(), createWorkloadStore()];
    const clients = replicas.map((r) => connect(port, r));
    await Promise.all(clients.map((c) => c.ready({ timeoutMs: 5000 })));
    expect(server.clients()).toHaveLength(3);
    pushes.length = 0;

    source.apply({ resources: [pod('a', '10.0.0.11')] });
    await until(
      () => replicas.every((r) => r.workloadByAddress('10.0.0.11') !== undefined),
      'the update on every client',
    );
    expect(replicas[0]?.workloadByAddress('10.0.0.1')).toBeUndefined();
    expect(pushes).toHaveLength(3);
    expect(
      pushes.every(
        (p) => p.resources.length === 1 && p.removed.length === 0 && p.typeUrl === ADDRESS_TYPE_URL,
      ),
    ).toBe(true);

    // Re-applying an identical resource changes nothing on the wire (same version).
    pushes.length = 0;
    source.apply({ resources: [pod('a', '10.0.0.11')] });
    source.apply({
      removed: ['default/echo.default.svc.cluster.local', { kind: 'policy', name: 'default/allow-sleep' }],
    });
    await until(
      () => replicas.every((r) => r.stats().services === 0 && r.stats().policies === 0),
      'the removals on every client',
    );
    expect(
      pushes
        .map((p) => `${p.typeUrl === ADDRESS_TYPE_URL ? 'A' : 'Z'}${p.resources.length}/${p.removed.length}`)
        .sort(),
    ).toEqual(['A0/1', 'A0/1', 'A0/1', 'Z0/1', 'Z0/1', 'Z0/1']);
  });

  it('NACKs a bad resource by name while applying the good ones in the same response', async () => {
    const source = mesh();
    const { server, port } = await serve(source);
    const nacks = recorded<XdsServerNackEvent>(server, WORKLOAD_API_CHANNELS.serverNack);
    const replica = createWorkloadStore();
    const client = connect(port, replica);
    await client.ready({ timeoutMs: 5000 });
    // A workload whose IP text does not encode: it goes out with a 0-byte address, which ztunnel rejects.
    const bad = createWorkload({
      uid: 'Kubernetes//Pod/default/bad',
      namespace: 'default',
      workloadIps: ['not-an-ip'],
    });
    source.apply({ resources: [pod('c', '10.0.0.3'), bad, pod('d', '10.0.0.4')] });
    await until(() => nacks.length === 1, 'the NACK');
    expect(nacks[0]?.message).toBe(
      'Kubernetes//Pod/default/bad: workload.addresses[0]: failed to parse address, had 0 bytes',
    );
    expect(replica.workloadByAddress('10.0.0.3')?.name).toBe('c');
    expect(replica.workloadByAddress('10.0.0.4')?.name).toBe('d');
    expect(replica.workload('Kubernetes//Pod/default/bad')).toBeUndefined();
    // The rejected resource is not recorded, so a reconnect asks for it again.
    expect(client.knownResources(ADDRESS_TYPE_URL).has('Kubernetes//Pod/default/bad')).toBe(false);
    expect(client.knownResources(ADDRESS_TYPE_URL).has('Kubernetes//Pod/default/c')).toBe(true);
  });

  it('reconnects after a server restart and resumes with initial_resource_versions', async () => {
    const source = mesh();
    const first = await serve(source);
    const replica = createWorkloadStore();
    const client = connect(first.port, replica, { initialBackoffMs: 20, maxBackoffMs: 200 });
    await client.ready({ timeoutMs: 5000 });
    const disconnected = new Promise<void>((resolve) => client.on('disconnected', () => resolve()));
    await first.server.close();
    await disconnected;

    // The restarted control plane: `a` unchanged, `b` gone, `c` new, the policy changed.
    const next = createWorkloadStore();
    next.apply({
      resources: [
        echo(),
        pod('a', '10.0.0.1'),
        pod('c', '10.0.0.3'),
        createAuthorization({
          name: 'allow-sleep',
          namespace: 'default',
          scope: 'Namespace',
          action: 'Deny',
        }),
      ],
    });
    const restarted = createXdsServer({ store: next });
    const pushes = recorded<XdsServerPushEvent>(restarted, WORKLOAD_API_CHANNELS.serverPush);
    await restarted.listen(`127.0.0.1:${first.port}`);
    cleanups.push(() => restarted.close());
    await until(
      () =>
        replica.workloadByAddress('10.0.0.3') !== undefined &&
        replica.workload('Kubernetes//Pod/default/b') === undefined &&
        replica.policy('default/allow-sleep')?.action === 'Deny' &&
        pushes.length >= 2,
      'the resumed state',
      10_000,
    );
    expect(replica.policy('default/allow-sleep')?.action).toBe('Deny');
    // Only what changed crossed the wire: `c` added and `b` removed; `a` and echo were already current.
    const address = pushes.find((p) => p.typeUrl === ADDRESS_TYPE_URL);
    expect(address).toMatchObject({
      resources: ['Kubernetes//Pod/default/c'],
      removed: ['Kubernetes//Pod/default/b'],
    });
    expect(pushes.find((p) => p.typeUrl === AUTHORIZATION_TYPE_URL)).toMatchObject({
      resources: ['default/allow-sleep'],
      removed: [],
    });
    expect(replica.stats()).toEqual(next.stats());
  });

  it('fetches network/ip names on demand, answers unknown names with a removal, and keeps the subscription', async () => {
    const source = mesh();
    const { server, port } = await serve(source);
    const replica = createWorkloadStore();
    const client = connect(port, replica, { onDemand: true });
    await client.ready({ timeoutMs: 5000 }); // only Authorization is a wildcard type in on-demand mode
    expect(replica.stats().workloads).toBe(0);
    expect(replica.stats().policies).toBe(1);
    expect(server.clients()[0]?.subscriptions.get(ADDRESS_TYPE_URL)).toEqual({
      wildcard: false,
      names: 0,
      sent: 0,
    });

    await client.demand('/10.0.0.2', { timeoutMs: 5000 });
    expect(replica.workloadByAddress('10.0.0.2')?.name).toBe('b');
    expect(replica.workloadByAddress('10.0.0.1')).toBeUndefined();
    await client.demand('/10.0.0.9', { timeoutMs: 5000 }); // unknown: resolves via removed_resources
    expect(replica.workloadByAddress('10.0.0.9')).toBeUndefined();
    // A workload that later appears at the subscribed address is pushed.
    source.apply({ resources: [pod('late', '10.0.0.9')] });
    await until(() => replica.workloadByAddress('10.0.0.9') !== undefined, 'the late workload');
    await client.demand('default/echo.default.svc.cluster.local', { timeoutMs: 5000 });
    expect(replica.service('default/echo.default.svc.cluster.local')).toBeDefined();
  });

  it('sends ztunnel-shaped requests: node, on-demand "*" subscribe+unsubscribe, ACK with nonce', async () => {
    // A hand-written server that records what the client sends.
    const requests: DeltaDiscoveryRequest[] = [];
    const grpcServer = new Server();
    grpcServer.addService(aggregatedDiscoveryService, {
      DeltaAggregatedResources: (call: ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) => {
        call.on('data', (req: DeltaDiscoveryRequest) => {
          requests.push(req);
          if (req.responseNonce === '' && req.resourceNamesSubscribe.length === 0) {
            call.write(
              create(DeltaDiscoveryResponseSchema, { typeUrl: req.typeUrl, nonce: `n-${requests.length}` }),
            );
          }
        });
        call.on('end', () => call.end());
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    cleanups.push(() => grpcServer.forceShutdown());
    const client = connect(port, createWorkloadStore(), { onDemand: true });
    await client.ready({ timeoutMs: 5000 });
    const initial = requests.filter((r) => r.node !== undefined);
    expect(initial.map((r) => r.typeUrl)).toEqual([ADDRESS_TYPE_URL, AUTHORIZATION_TYPE_URL]);
    expect(initial[0]).toMatchObject({ resourceNamesSubscribe: ['*'], resourceNamesUnsubscribe: ['*'] });
    expect(initial[1]).toMatchObject({ resourceNamesSubscribe: [], resourceNamesUnsubscribe: [] });
    await until(() => requests.some((r) => r.responseNonce !== ''), 'the ACK');
    const ack = requests.find((r) => r.responseNonce !== '');
    expect(ack?.errorDetail).toBeUndefined();
    expect(ack?.node).toBeUndefined();
  });

  it('NACKs garbage and wrong-type bodies from a raw server and still applies the rest', async () => {
    const acks: DeltaDiscoveryRequest[] = [];
    const grpcServer = new Server();
    grpcServer.addService(aggregatedDiscoveryService, {
      DeltaAggregatedResources: (call: ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) => {
        call.on('data', (req: DeltaDiscoveryRequest) => {
          if (req.responseNonce !== '') {
            acks.push(req);
            return;
          }
          if (req.typeUrl !== ADDRESS_TYPE_URL) return;
          call.write(
            create(DeltaDiscoveryResponseSchema, {
              typeUrl: ADDRESS_TYPE_URL,
              nonce: 'n1',
              resources: [
                {
                  name: 'good',
                  version: 'v1',
                  resource: { typeUrl: ADDRESS_TYPE_URL, value: encodeAddress(pod('good', '10.0.0.7')) },
                },
                {
                  name: 'garbage',
                  version: 'v1',
                  resource: { typeUrl: ADDRESS_TYPE_URL, value: new Uint8Array([0x0a, 0xff, 0xff]) },
                },
                {
                  name: 'wrong',
                  version: 'v1',
                  resource: { typeUrl: AUTHORIZATION_TYPE_URL, value: new Uint8Array() },
                },
                { name: 'empty', version: 'v1' },
              ],
            }),
          );
        });
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      grpcServer.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    cleanups.push(() => grpcServer.forceShutdown());
    const replica = createWorkloadStore();
    connect(port, replica, { typeUrls: [ADDRESS_TYPE_URL] });
    await until(() => acks.length === 1, 'the NACK');
    const message = acks[0]?.errorDetail?.message ?? '';
    expect(message.split('; ').map((m) => m.split(':')[0])).toEqual(['garbage', 'wrong', 'empty']);
    expect(acks[0]?.responseNonce).toBe('n1');
    expect(replica.workloadByAddress('10.0.0.7')?.name).toBe('good');
  });

  it('ready() and demand() reject with coded errors on timeout and close', async () => {
    const client = createXdsClient({
      address: '127.0.0.1:1',
      store: createWorkloadStore(),
      onDemand: true,
      maxBackoffMs: 50,
    });
    cleanups.push(() => client.close());
    await expect(client.ready({ timeoutMs: 50 })).rejects.toMatchObject({ code: 'WORKLOAD_API_ERR_TIMEOUT' });
    const pending = client.demand('/10.0.0.1', { timeoutMs: 10_000 });
    await client.close();
    await expect(pending).rejects.toMatchObject({ code: 'WORKLOAD_API_ERR_CLOSED' });
    await expect(client.ready()).rejects.toMatchObject({ code: 'WORKLOAD_API_ERR_CLOSED' });
    const ac = new AbortController();
    const other = createXdsClient({
      address: '127.0.0.1:1',
      store: createWorkloadStore(),
      signal: ac.signal,
    });
    cleanups.push(() => other.close());
    const waiting = other.ready();
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'WORKLOAD_API_ERR_CLOSED' });
  });
});

/** A raw delta ADS stream (grpc-js, no client logic): send requests, read responses one by one. */
function rawStream(port: number): {
  send(req: MessageInitShape<typeof DeltaDiscoveryRequestSchema>): void;
  next(timeoutMs?: number): Promise<DeltaDiscoveryResponse>;
  status: Promise<{ code: number; details: string }>;
} {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure());
  const call = client.makeBidiStreamRequest(
    DELTA_ADS_PATH,
    deltaAdsMethod.requestSerialize,
    deltaAdsMethod.responseDeserialize,
  );
  cleanups.push(() => {
    call.cancel();
    client.close();
  });
  const queue: DeltaDiscoveryResponse[] = [];
  const waiting: ((r: DeltaDiscoveryResponse) => void)[] = [];
  call.on('data', (r: DeltaDiscoveryResponse) => {
    const w = waiting.shift();
    if (w === undefined) queue.push(r);
    else w(r);
  });
  const status = new Promise<{ code: number; details: string }>((resolve) => {
    call.on('status', (s: { code: number; details: string }) => resolve(s));
    call.on('error', () => undefined);
  });
  return {
    send: (req) => call.write(create(DeltaDiscoveryRequestSchema, req)),
    next: (timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        const r = queue.shift();
        if (r !== undefined) return resolve(r);
        const timer = setTimeout(() => reject(new Error('no response')), timeoutMs);
        waiting.push((x) => {
          clearTimeout(timer);
          resolve(x);
        });
      }),
    status,
  };
}

describe('delta xDS server: subscriptions (issue 9)', () => {
  const NODE = { id: 'ztunnel~10.0.0.100~ztunnel-x.istio-system~istio-system.svc.cluster.local' };
  const A = 'Kubernetes//Pod/default/a';
  const B = 'Kubernetes//Pod/default/b';
  const ECHO = 'default/echo.default.svc.cluster.local';

  it('honours resource_names_unsubscribe by name and by alias: later changes are not pushed', async () => {
    const source = mesh();
    const { port } = await serve(source);
    const s = rawStream(port);
    // ztunnel's on-demand start: subscribe to nothing.
    s.send({
      node: NODE,
      typeUrl: ADDRESS_TYPE_URL,
      resourceNamesSubscribe: ['*'],
      resourceNamesUnsubscribe: ['*'],
    });
    const first = await s.next();
    expect(first.resources).toEqual([]);
    s.send({ typeUrl: ADDRESS_TYPE_URL, responseNonce: first.nonce });
    // By name (a), by alias (b at /10.0.0.2), and the echo service by name.
    s.send({ typeUrl: ADDRESS_TYPE_URL, resourceNamesSubscribe: [A, '/10.0.0.2', ECHO] });
    const got = await s.next();
    expect(got.resources.map((r) => r.name).sort()).toEqual([A, B, ECHO].sort());
    expect(got.resources.find((r) => r.name === B)?.aliases).toEqual(['/10.0.0.2']);
    s.send({ typeUrl: ADDRESS_TYPE_URL, responseNonce: got.nonce });

    s.send({ typeUrl: ADDRESS_TYPE_URL, resourceNamesUnsubscribe: [A, '/10.0.0.2'] });
    // istiod answers a subscription change of an on-demand client, here with nothing
    // (istio/istio@86c9f01f:pilot/pkg/xds/workload.go generateDeltasOndemand).
    const answer = await s.next();
    expect(answer.resources).toEqual([]);
    expect(answer.removedResources).toEqual([]);
    s.send({ typeUrl: ADDRESS_TYPE_URL, responseNonce: answer.nonce });

    // Change a and b (b keeps its address, so only the unsubscribe can stop it), then echo: the next push
    // must be echo's alone.
    source.apply({ resources: [pod('a', '10.0.0.1', { node: 'node-b' })] });
    source.apply({ resources: [pod('b', '10.0.0.2', { node: 'node-b' })] });
    source.apply({ removed: [A] });
    source.apply({ resources: [echo({ canonical: true })] });
    const next = await s.next();
    expect(next.resources.map((r) => r.name)).toEqual([ECHO]);
    expect(next.removedResources).toEqual([]);

    // Subscribing again brings the current version back.
    s.send({ typeUrl: ADDRESS_TYPE_URL, responseNonce: next.nonce });
    s.send({ typeUrl: ADDRESS_TYPE_URL, resourceNamesSubscribe: ['/10.0.0.2'] });
    const again = await s.next();
    expect(again.resources.map((r) => r.name)).toEqual([B]);
  });

  it('keeps pushing what another subscription still covers', async () => {
    const source = mesh();
    const { port } = await serve(source);
    const s = rawStream(port);
    s.send({ node: NODE, typeUrl: ADDRESS_TYPE_URL, resourceNamesSubscribe: [B, '/10.0.0.2'] });
    const got = await s.next();
    expect(got.resources.map((r) => r.name)).toEqual([B]);
    s.send({ typeUrl: ADDRESS_TYPE_URL, responseNonce: got.nonce });
    s.send({ typeUrl: ADDRESS_TYPE_URL, resourceNamesUnsubscribe: ['/10.0.0.2'] });
    await s.next(); // the (empty) answer to the change
    source.apply({ resources: [pod('b', '10.0.0.2', { node: 'node-c' })] }); // still subscribed by name
    const push = await s.next();
    expect(push.resources.map((r) => r.name)).toEqual([B]);
  });

  it("answers a type it does not serve as istiod's api generator does: empty, names removed, ACK unanswered", async () => {
    const { port } = await serve(mesh());
    const s = rawStream(port);
    const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
    s.send({ node: NODE, typeUrl: CLUSTER, resourceNamesSubscribe: ['outbound|80||b', 'outbound|80||a'] });
    const r = await s.next();
    expect(r.typeUrl).toBe(CLUSTER);
    expect(r.nonce).not.toBe('');
    expect(r.resources).toEqual([]);
    expect(r.removedResources).toEqual(['outbound|80||a', 'outbound|80||b']);
    // The ACK gets no answer: the next response is the Address one.
    s.send({ typeUrl: CLUSTER, responseNonce: r.nonce });
    s.send({ typeUrl: ADDRESS_TYPE_URL });
    const address = await s.next();
    expect(address.typeUrl).toBe(ADDRESS_TYPE_URL);
    expect(address.resources).toHaveLength(3);
  });

  it('can end the stream with UNAUTHENTICATED instead, as istiod does for a caller it cannot authenticate', async () => {
    const server = createXdsServer({ store: mesh(), unservedTypes: 'unauthenticated' });
    const port = await server.listen('127.0.0.1:0');
    cleanups.push(() => server.close());
    const s = rawStream(port);
    s.send({ node: NODE, typeUrl: 'type.googleapis.com/envoy.config.listener.v3.Listener' });
    expect(await s.status).toMatchObject({
      code: status.UNAUTHENTICATED,
      details: 'the api generator requires an authenticated control-plane identity',
    });
  });
});
