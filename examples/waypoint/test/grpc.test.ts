/**
 * gRPC through the waypoint with a real `@grpc/grpc-js` client and server: unary, server-, client- and
 * bidirectional streaming; metadata and trailers both ways; status codes; deadlines (`grpc-timeout`) passed
 * on and enforced by the waypoint as Envoy enforces them; local replies as gRPC errors (RBAC, fault abort);
 * GRPCRoute method matches. The client reaches the waypoint as a pod's app does: its connection is carried
 * into an HBONE tunnel addressed to the service VIP (a ztunnel's job, here a small forwarder).
 */
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { h2, h2Request, startTestMesh, type TestMesh } from './support/mesh.js';

const NET = '127.31.44';
let mesh: TestMesh;
let forwarder: net.Server;
const servers: grpc.Server[] = [];

const json = {
  requestSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  requestDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
  responseSerialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  responseDeserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
};
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/demo.Greeter/${name}`,
  requestStream,
  responseStream,
  ...json,
});
const GREETER = {
  SayHello: method('SayHello', false, false),
  Slow: method('Slow', false, false),
  Fail: method('Fail', false, false),
  Forbidden: method('Forbidden', false, false),
  Abort: method('Abort', false, false),
  Count: method('Count', false, true),
  Sum: method('Sum', true, false),
  Chat: method('Chat', true, true),
} as const;

type Msg = Record<string, unknown>;
type Client = grpc.Client & Record<keyof typeof GREETER, (...args: unknown[]) => unknown>;

async function startGreeter(ip: string, version: string): Promise<void> {
  const server = new grpc.Server();
  server.addService(GREETER as unknown as grpc.ServiceDefinition, {
    SayHello: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', 'from-server');
      cb(
        null,
        {
          message: `hello ${String(call.request['name'])}`,
          version,
          user: call.metadata.get('x-user')[0] ?? null,
          deadline: Number.isFinite(Number(call.getDeadline())) ? 'set' : 'none',
        },
        trailer,
      );
    },
    Slow: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      const timer = setTimeout(() => cb(null, { done: true }), 2000);
      call.on('cancelled', () => clearTimeout(timer));
    },
    Fail: (_call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) =>
      cb({ code: grpc.status.NOT_FOUND, details: 'no such greeting' }),
    Forbidden: (_call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => cb(null, {}),
    Abort: (_call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => cb(null, {}),
    Count: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      for (let i = 0; i < Number(call.request['n']); i++) call.write({ i });
      call.end();
    },
    Sum: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
      let sum = 0;
      call.on('data', (m: Msg) => {
        sum += Number(m['n']);
      });
      call.on('end', () => cb(null, { sum }));
    },
    Chat: (call: grpc.ServerDuplexStream<Msg, Msg>) => {
      call.on('data', (m: Msg) => call.write({ reply: `re: ${String(m['text'])}` }));
      call.on('end', () => call.end());
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`${ip}:50051`, grpc.ServerCredentials.createInsecure(), (e) =>
      e ? reject(e) : resolve(),
    ),
  );
  servers.push(server);
}

let client: Client;

beforeAll(async () => {
  await startGreeter(`${NET}.30`, 'v1');
  await startGreeter(`${NET}.31`, 'v2');
  mesh = await startTestMesh({
    subnet: 44,
    pods: [
      {
        name: 'greeter-v1',
        octet: 30,
        app: 'greeter',
        version: 'v1',
        appKind: 'none',
        services: { greeter: { 50051: 50051 } },
      },
      {
        name: 'greeter-v2',
        octet: 31,
        app: 'greeter',
        version: 'v2',
        appKind: 'none',
        services: { 'greeter-v2': { 50051: 50051 } },
      },
    ],
    services: [
      { name: 'greeter', vipOctet: 30, ports: { 50051: 50051 } },
      { name: 'greeter-v2', vipOctet: 31, ports: { 50051: 50051 }, appProtocol: 'GRPC' },
    ],
    config: `apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: default}
spec:
  ports: [{name: rpc, appProtocol: grpc, port: 50051}]
`,
  });
  // The app's connection, carried into HBONE towards the service VIP (ztunnel's part).
  forwarder = net.createServer((socket) => {
    socket.on('error', () => {});
    void mesh.tunnel('greeter', 50051).then(
      (tunnel) => {
        socket.pipe(tunnel).pipe(socket);
        tunnel.on('close', () => socket.destroy());
        socket.on('close', () => tunnel.destroy());
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
  const Ctor = grpc.makeGenericClientConstructor(GREETER as unknown as grpc.ServiceDefinition, 'Greeter');
  client = new Ctor(
    `127.0.0.1:${(forwarder.address() as net.AddressInfo).port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as Client;
});
afterAll(async () => {
  client?.close();
  forwarder?.close();
  await mesh?.close();
  for (const s of servers) s.forceShutdown();
});

function unary(
  name: keyof typeof GREETER,
  request: Msg,
  options: { metadata?: grpc.Metadata; deadlineMs?: number } = {},
) {
  return new Promise<{
    error: grpc.ServiceError | null;
    reply: Msg | undefined;
    trailers: grpc.Metadata | undefined;
  }>((resolve) => {
    // The callback and the 'status' event (the trailers) come in either order: wait for both.
    let result: { error: grpc.ServiceError | null; reply: Msg | undefined } | undefined;
    let trailers: grpc.Metadata | undefined;
    let seen = 0;
    const done = (): void => {
      if (++seen === 2 && result !== undefined) resolve({ ...result, trailers });
    };
    const call = client[name](
      request,
      options.metadata ?? new grpc.Metadata(),
      options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs },
      (error: grpc.ServiceError | null, reply: Msg | undefined) => {
        result = { error, reply };
        done();
      },
    ) as grpc.ClientUnaryCall;
    call.on('status', (s: grpc.StatusObject) => {
      trailers = s.metadata;
      done();
    });
  });
}

describe('gRPC through the waypoint', () => {
  it('carries a unary call: metadata in, trailers and status out, over HTTP/2 both ways', async () => {
    const metadata = new grpc.Metadata();
    metadata.set('x-user', 'alice');
    const { error, reply, trailers } = await unary('SayHello', { name: 'mesh' }, { metadata });
    expect(error).toBeNull();
    expect(reply).toMatchObject({ message: 'hello mesh', version: 'v1', user: 'alice' });
    expect(trailers?.get('x-trailer')).toEqual(['from-server']);
    const log = mesh.logs.find((l) => l.path === '/demo.Greeter/SayHello');
    expect(log).toMatchObject({ protocol: 'HTTP/2', responseCode: 200, grpcStatus: '0', responseFlags: '-' });
  });

  it('carries server, client and bidirectional streams', async () => {
    const counted: Msg[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.Count({ n: 5 }) as grpc.ClientReadableStream<Msg>;
      call.on('data', (m: Msg) => counted.push(m));
      call.on('end', resolve);
      call.on('error', reject);
    });
    expect(counted.map((m) => m['i'])).toEqual([0, 1, 2, 3, 4]);
    const sum = await new Promise<Msg>((resolve, reject) => {
      const call = client.Sum((e: grpc.ServiceError | null, r: Msg) =>
        e ? reject(e) : resolve(r),
      ) as grpc.ClientWritableStream<Msg>;
      for (const n of [1, 2, 3, 4]) call.write({ n });
      call.end();
    });
    expect(sum).toEqual({ sum: 10 });
    const replies: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.Chat() as grpc.ClientDuplexStream<Msg, Msg>;
      call.on('data', (m: Msg) => {
        replies.push(String(m['reply']));
        if (replies.length < 3) call.write({ text: `m${replies.length}` });
        else call.end();
      });
      call.on('end', resolve);
      call.on('error', reject);
      call.write({ text: 'm0' });
    });
    expect(replies).toEqual(['re: m0', 're: m1', 're: m2']);
  });

  it('passes a server error status and message through', async () => {
    const { error } = await unary('Fail', {});
    expect(error?.code).toBe(grpc.status.NOT_FOUND);
    expect(error?.details).toBe('no such greeting');
    expect(mesh.logs.find((l) => l.path === '/demo.Greeter/Fail')).toMatchObject({
      responseCode: 200,
      grpcStatus: '5',
    });
  });

  it('passes the deadline on (grpc-timeout), and enforces it itself: grpc-status 14, UT', async () => {
    const { reply } = await unary('SayHello', { name: 'd' }, { deadlineMs: 5000 });
    expect(reply?.['deadline']).toBe('set');
    const late = await unary('Slow', {}, { deadlineMs: 300 });
    expect(late.error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // A client that does not cancel on its own: the waypoint answers at the deadline, HEADERS-only.
    const session = h2(await mesh.tunnel('greeter', 50051));
    try {
      const t0 = performance.now();
      const answer = await h2Request(
        session,
        {
          ':method': 'POST',
          ':path': '/demo.Greeter/Slow',
          'content-type': 'application/grpc',
          te: 'trailers',
          'grpc-timeout': '200m',
        },
        '\u0000\u0000\u0000\u0000\u0002{}',
      );
      expect(performance.now() - t0).toBeLessThan(1500);
      expect(answer).toMatchObject({ status: 200, headersOnly: true });
      expect(answer.headers['grpc-status']).toBe('14');
      expect(answer.headers['grpc-message']).toBe('upstream request timeout');
    } finally {
      session.close();
    }
    const log = [...mesh.logs].reverse().find((l) => l.path === '/demo.Greeter/Slow');
    expect(log).toMatchObject({ responseFlags: 'UT', grpcStatus: '14' });
  });
});

describe('gRPC with policies and routes', () => {
  it('answers an RBAC denial and a fault abort as gRPC errors; routes by GRPCRoute method', async () => {
    await mesh.setConfig(`apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: default}
spec:
  ports: [{name: rpc, appProtocol: grpc, port: 50051}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-forbidden, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: greeter}]
  action: DENY
  rules: [{to: [{operation: {paths: ["/demo.Greeter/Forbidden"]}}]}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: greeter, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: greeter, port: 50051}]
  rules:
  - matches: [{method: {service: demo.Greeter, method: SayHello}}]
    backendRefs: [{name: greeter-v2, port: 50051}]
  - backendRefs: [{name: greeter, port: 50051}]
`);
    const denied = await unary('Forbidden', {});
    expect(denied.error?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(denied.error?.details).toBe('RBAC: access denied');
    const routed = await unary('SayHello', { name: 'v2?' });
    expect(routed.reply?.['version']).toBe('v2');
    const other = await unary('Fail', {});
    expect(other.error?.code).toBe(grpc.status.NOT_FOUND);

    await mesh.setConfig(`apiVersion: v1
kind: Service
metadata: {name: greeter, namespace: default}
spec:
  ports: [{name: rpc, appProtocol: grpc, port: 50051}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter, namespace: default}
spec:
  hosts: [greeter]
  http:
  - match: [{uri: {exact: /demo.Greeter/Abort}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: greeter}}]
  - route: [{destination: {host: greeter}}]
`);
    const aborted = await unary('Abort', {});
    expect(aborted.error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(mesh.logs.find((l) => l.path === '/demo.Greeter/Abort')).toMatchObject({
      responseFlags: 'FI',
      grpcStatus: '14',
    });
  });
});

it('is HTTP/2 on the wire to the server even for an h2c client that says nothing about gRPC', async () => {
  // A plain HTTP/2 POST to the grpc port: the upstream is HTTP/2 (appProtocol grpc), whatever the client is.
  const s = h2(await mesh.tunnel('greeter', 50051));
  try {
    const message = '{"name":"raw"}';
    const frame = `\u0000\u0000\u0000\u0000${String.fromCharCode(message.length)}${message}`;
    const answer = await h2Request(
      s,
      {
        ':method': 'POST',
        ':path': '/demo.Greeter/SayHello',
        'content-type': 'application/grpc',
        te: 'trailers',
      },
      frame,
    );
    expect(answer.status).toBe(200);
    expect(answer.trailers?.['grpc-status']).toBe('0');
    expect(answer.body).toContain('hello raw');
  } finally {
    s.close();
  }
});
