/**
 * gRPC over native HBONE: a `@grpc/grpc-js` server behind `createMeshServer`, called with a grpc-js client
 * whose connections are mesh tunnels (a local forwarder hands each one to the mesh connector, as an app's
 * sidecar-less client would through a SOCKS-less dialer). Unary and server streaming, with the verified
 * peer visible to the handlers.
 */
import net, { type AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMeshConnector,
  createMeshServer,
  getPeer,
  type MeshConnector,
  type MeshServer,
} from '../src/index.js';
import { backs, id, meshStore, pod, service, testPki } from './support/mesh.js';

const CLIENT_IP = '127.77.2.1';
const GREETER_IP = '127.77.2.2';

const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString('utf8')) as unknown,
};
const greeterService: grpc.ServiceDefinition = {
  sayHello: {
    path: '/demo.Greeter/SayHello',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
  countTo: {
    path: '/demo.Greeter/CountTo',
    requestStream: false,
    responseStream: true,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

const store = meshStore([
  pod('client', CLIENT_IP, { nativeTunnel: true }),
  pod('greeter', GREETER_IP, { nativeTunnel: true, services: backs('greeter', 50051, 50051) }),
  service('greeter', '10.96.77.20', 50051, 50051),
]);

let grpcServer: grpc.Server;
let mesh: MeshServer;
let connector: MeshConnector;
let forwarder: net.Server;
let client: grpc.Client & Record<string, (...args: unknown[]) => unknown>;

beforeAll(async () => {
  const { issue, bundles } = await testPki();
  grpcServer = new grpc.Server();
  grpcServer.addService(greeterService, {
    sayHello: (
      call: grpc.ServerUnaryCall<{ name: string }, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      const peer = getPeer(call);
      callback(null, {
        message: `hello ${call.request.name}`,
        caller: peer?.identity,
        source: peer?.sourceAddress,
      });
    },
    countTo: (call: grpc.ServerWritableStream<{ n: number }, unknown>) => {
      for (let i = 1; i <= call.request.n; i++) call.write({ i, caller: getPeer(call)?.identity });
      call.end();
    },
  });
  mesh = createMeshServer({
    svid: await issue(id('default', 'greeter')),
    bundles,
    store,
    server: grpcServer,
  });
  await mesh.listen(15008, GREETER_IP);

  connector = createMeshConnector({
    svid: await issue(id('default', 'client')),
    bundles,
    store,
    source: 'Kubernetes//Pod/default/client',
    bindSourceIp: true,
  });
  forwarder = net.createServer((local) => {
    connector.open('greeter', 50051).then(
      (tunnel) => pipeline(local, tunnel, local, () => {}),
      () => local.destroy(),
    );
  });
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
  const Greeter = grpc.makeGenericClientConstructor(greeterService, 'Greeter');
  client = new Greeter(
    `127.0.0.1:${(forwarder.address() as AddressInfo).port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as typeof client;
});

afterAll(async () => {
  client?.close();
  forwarder?.close();
  await connector?.close();
  await mesh?.close({ deadlineMs: 100 });
  grpcServer?.forceShutdown();
});

describe('gRPC over native HBONE', () => {
  it('answers a unary call and the handler sees the verified peer', async () => {
    const answer = await new Promise<unknown>((resolve, reject) => {
      client['sayHello']?.({ name: 'mesh' }, (error: Error | null, value: unknown) =>
        error ? reject(error) : resolve(value),
      );
    });
    expect(answer).toEqual({ message: 'hello mesh', caller: id('default', 'client'), source: CLIENT_IP });
  });

  it('streams server responses', async () => {
    const stream = client['countTo']?.({ n: 5 }) as grpc.ClientReadableStream<{ i: number; caller: string }>;
    const got: { i: number; caller: string }[] = [];
    for await (const message of stream) got.push(message as { i: number; caller: string });
    expect(got.map((m) => m.i)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(got.map((m) => m.caller))).toEqual(new Set([id('default', 'client')]));
  });
});
