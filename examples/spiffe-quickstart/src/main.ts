/**
 * SPIFFE quickstart: everything on loopback, no root, no cluster, done in a few seconds.
 *
 * 1. A CA for `example.org` (root + intermediate, like a production istiod with an intermediate) issues SVIDs
 *    to a server and a client.
 * 2. An HTTP/2 server on 127.0.0.1 requires mTLS and accepts only clients of `example.org`.
 * 3. The client connects with mTLS, expecting exactly the server's ID; both ends print the verified peer ID.
 * 4. A workload of another trust domain (`other.org`, its own CA) tries the same server and is rejected.
 * 5. A client expecting a different server ID refuses our server during the handshake.
 *
 * Run from the repository root: `npm start -w @ambient-kit/example-spiffe-quickstart`.
 * @module
 */
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import * as tls from 'node:tls';
import {
  type Authorizer,
  authorizeId,
  authorizeMemberOf,
  bindMtlsServer,
  createBundleSet,
  createCertificateAuthority,
  mtlsClientOptions,
  mtlsServerOptions,
  peerSpiffeId,
  type SvidSource,
  staticSvidSource,
} from '@ambient-kit/spiffe';

const SERVER_ID = 'spiffe://example.org/ns/default/sa/greeter';
const CLIENT_ID = 'spiffe://example.org/ns/default/sa/caller';

const ca = await createCertificateAuthority({ trustDomain: 'example.org', intermediate: true });
const otherCa = await createCertificateAuthority({ trustDomain: 'other.org' });
const serverSvid = staticSvidSource(await ca.issue(SERVER_ID));
const clientSvid = staticSvidSource(await ca.issue(CLIENT_ID));
const intruderSvid = staticSvidSource(await otherCa.issue('spiffe://other.org/ns/default/sa/intruder'));
// The server and clients trust both trust domains, each only for its own IDs (federation, never a union pool).
const bundles = createBundleSet([ca.bundle, otherCa.bundle]);
console.log(`CA for example.org issued ${SERVER_ID}`);
console.log(`CA for example.org issued ${CLIENT_ID}`);
console.log('CA for other.org issued spiffe://other.org/ns/default/sa/intruder\n');

const serverConfig = {
  svid: serverSvid,
  bundles,
  authorize: authorizeMemberOf('example.org'),
  onReject: (error: Error & { code?: string }) =>
    console.log(`server: rejected a client: ${error.code} (${error.message})`),
};
const server = http2.createSecureServer(mtlsServerOptions(serverConfig));
bindMtlsServer(server, serverConfig);
server.on('stream', (stream) => {
  const peer = peerSpiffeId(stream.session?.socket as tls.TLSSocket);
  console.log(`server: verified client ${peer?.toString()}`);
  stream.respond({ ':status': 200, 'content-type': 'text/plain' });
  stream.end(`hello, ${peer?.toString()}`);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;
console.log(`server: listening on 127.0.0.1:${port} (TLS 1.3, ALPN h2, client certificates required)\n`);

/** One HTTP/2 request over SPIFFE mTLS; reports the body, or what stopped it, once the session has closed. */
function get(who: string, svid: SvidSource, authorize: Authorizer): Promise<void> {
  return new Promise((resolve) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      createConnection: () =>
        tls.connect({ host: '127.0.0.1', port, ...mtlsClientOptions({ svid, bundles, authorize }) }),
    });
    let failure = 'no response (the server closed the connection)';
    let body = '';
    session.on('connect', () =>
      console.log(`${who}: verified server ${peerSpiffeId(session.socket as tls.TLSSocket)?.toString()}`),
    );
    session.on('error', (error: Error & { code?: string }) => {
      failure = `refused the server: ${error.code} (${error.message})`;
    });
    session.on('close', () => {
      console.log(`${who}: ${body === '' ? failure : `response "${body}"`}\n`);
      resolve();
    });
    const request = session.request({ ':path': '/' });
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    request.on('error', () => {});
    request.on('close', () => session.close());
  });
}

await get('client', clientSvid, authorizeId(SERVER_ID));
await get('intruder (other.org)', intruderSvid, authorizeId(SERVER_ID));
await get(
  'client expecting another server',
  clientSvid,
  authorizeId('spiffe://example.org/ns/default/sa/someone-else'),
);

await new Promise<void>((resolve) => server.close(() => resolve()));
console.log('done');
