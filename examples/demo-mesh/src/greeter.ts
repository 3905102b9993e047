/**
 * The demo's gRPC service (`greeter.proto`), served with `@grpc/grpc-js` on the pods of a gRPC port, and the
 * client the scenario calls it with.
 * @module
 */
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

/** The Greeter client, as `loadPackageDefinition` builds it. */
export type GreeterClient = grpc.Client & {
  SayHello(
    request: { name: string },
    options: grpc.CallOptions,
    callback: (error: grpc.ServiceError | null, reply?: { message: string; pod: string }) => void,
  ): grpc.ClientUnaryCall;
  CountTo(request: { n: number }, options?: grpc.CallOptions): grpc.ClientReadableStream<{ i: number }>;
};

type GreeterPackage = {
  demo: {
    Greeter: grpc.ServiceClientConstructor & { service: grpc.ServiceDefinition };
  };
};

let loaded: GreeterPackage | undefined;

function greeterPackage(): GreeterPackage {
  loaded ??= grpc.loadPackageDefinition(
    loadSync(new URL('./greeter.proto', import.meta.url).pathname, { keepCase: true, defaults: true }),
  ) as unknown as GreeterPackage;
  return loaded;
}

/**
 * Serves the Greeter on `ip:port`, answering as `pod`.
 *
 * @param pod - The pod name put in replies.
 * @param ip - The pod IP.
 * @param port - The port.
 * @returns The server (call `forceShutdown` to stop it).
 * @example
 * ```ts
 * const server = await serveGreeter('greeter-1', '127.0.2.30', 50051);
 * ```
 */
export async function serveGreeter(pod: string, ip: string, port: number): Promise<grpc.Server> {
  const server = new grpc.Server();
  server.addService(greeterPackage().demo.Greeter.service, {
    SayHello: (call: grpc.ServerUnaryCall<{ name: string }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { message: `hello ${call.request.name}`, pod }),
    CountTo: (call: grpc.ServerWritableStream<{ n: number }, unknown>) => {
      for (let i = 1; i <= Math.min(call.request.n, 100); i++) call.write({ i });
      call.end();
    },
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`${ip}:${port}`, grpc.ServerCredentials.createInsecure(), (error) =>
      error === null ? resolve() : reject(error),
    ),
  );
  return server;
}

/**
 * A Greeter client for `host:port`.
 *
 * @param target - `host:port` (the local forwarder into a pod's ztunnel, in the scenario).
 * @returns The client.
 * @example
 * ```ts
 * const client = greeterClient('127.0.0.1:40000');
 * ```
 */
export function greeterClient(target: string): GreeterClient {
  const Ctor = greeterPackage().demo.Greeter;
  return new Ctor(target, grpc.credentials.createInsecure()) as unknown as GreeterClient;
}
