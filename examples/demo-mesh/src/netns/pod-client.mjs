// What an app in a pod does, run inside the pod's network namespace with the pod's resolv.conf: a plain
// HTTP/1.1 request by URL (the name resolved by glibc's getaddrinfo, as curl would), or a name lookup. No
// proxy, no SOCKS5: the pod's traffic reaches ztunnel only through istio-cni's rules. Prints one JSON line.
//
//   node pod-client.mjs GET http://echo.default.svc.cluster.local/hello
//   node pod-client.mjs lookup db.example.internal
import { lookup } from 'node:dns/promises';
import http from 'node:http';

const [method = 'GET', target = ''] = process.argv.slice(2);
const print = (result) => process.stdout.write(`${JSON.stringify(result)}\n`);

if (method === 'lookup') {
  try {
    const addresses = await lookup(target, { all: true, family: 4 });
    print({ addresses: addresses.map((a) => a.address) });
  } catch (error) {
    print({ error: error.code ?? error.message });
  }
} else {
  const started = performance.now();
  const request = http.request(
    target,
    { method, headers: { 'user-agent': 'ambient-kit-netns-demo/0.1' } },
    (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        body += chunk;
      });
      response.on('end', () =>
        print({
          status: response.statusCode,
          body,
          remote: `${request.socket?.remoteAddress}:${request.socket?.remotePort}`,
          ms: Math.round(performance.now() - started),
        }),
      );
    },
  );
  request.setTimeout(5000, () => request.destroy(new Error('timeout after 5000 ms')));
  request.on('error', (error) => print({ error: error.code ?? error.message }));
  request.end();
}
