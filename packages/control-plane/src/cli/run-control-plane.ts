/**
 * The `ambient-control-plane` program, as a function the bin calls and the tests can call in-process: parse
 * the flags, load the plug-in CA, the token file and the mesh file (each fact one log line), serve xDS and
 * the CA on one TLS port until the signal aborts, log every issuance and refusal. Any bad flag, file or
 * configuration at start is one line on stderr and exit code 2, never a stack trace.
 * @module
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { createWorkloadStore } from '@ambient-kit/workload-api';
import { WORKLOAD_API_CHANNELS, type XdsServerConnectedEvent } from '@ambient-kit/workload-api/xds';
import { createNodeAuthorizer } from '../ca/node-authorizer.js';
import { loadPluggedCa } from '../ca/plugged-ca.js';
import { createTokenFileAuthenticator } from '../ca/token-file-authenticator.js';
import { ControlPlaneError } from '../codec/errors.js';
import type { MeshFileContents } from '../codec/mesh-file.js';
import {
  type CaIssuedEvent,
  type CallRefusedEvent,
  type CaRefusedEvent,
  CONTROL_PLANE_CHANNELS,
  type MeshFileErrorEvent,
  type MeshFileLoadedEvent,
  type TokensErrorEvent,
  type TokensLoadedEvent,
} from '../diagnostics.js';
import { watchMeshFile } from '../mesh-file-watcher.js';
import { startControlPlane } from '../server/control-plane.js';
import { CONTROL_PLANE_HELP, parseControlPlaneArgs, UsageError } from './options.js';

/** The program's name, the prefix of every line it prints. */
export const PROGRAM = 'ambient-control-plane';

/** Where the program writes: one line per call, without the newline. */
export interface ControlPlaneCliIo {
  /** Startup facts and events. */
  readonly out: (line: string) => void;
  /** Warnings and the fatal line. */
  readonly err: (line: string) => void;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/**
 * One line describing what a mesh file holds: the counts, the policies istiod would not send, the objects of
 * kinds not translated (by name).
 *
 * @param contents - A parsed mesh file.
 * @returns E.g. `2 workloads, 1 service, 1 policy, ignored: Pod default/sleep-5d8c`.
 * @example
 * ```ts
 * console.log(describeMesh(parseMeshFile(text, { skipUnsupportedKinds: true })._unsafeUnwrap()));
 * ```
 */
export function describeMesh(contents: MeshFileContents): string {
  const parts = [
    plural(contents.workloads.length, 'workload'),
    plural(contents.services.length, 'service'),
    plural(contents.policies.length, 'policy', 'policies'),
  ];
  if (contents.skippedPolicies.length > 0)
    parts.push(
      `not sent: ${contents.skippedPolicies.map((p) => `AuthorizationPolicy ${p.namespace}/${p.name} (${p.reason})`).join(', ')}`,
    );
  if (contents.skippedDocuments.length > 0)
    parts.push(
      `ignored: ${contents.skippedDocuments
        .map(
          (d) => `${d.kind} ${d.namespace === undefined ? '' : `${d.namespace}/`}${d.name ?? `at ${d.path}`}`,
        )
        .join(', ')}`,
    );
  return parts.join(', ');
}

/**
 * Runs the program until `signal` aborts.
 *
 * @param argv - The arguments after the program name.
 * @param env - The environment.
 * @param io - Where to write.
 * @param signal - Stops the program (SIGINT/SIGTERM in the bin).
 * @returns The exit code: 0 after a clean stop, 2 for bad flags or configuration, 1 for anything else.
 * @example
 * ```ts
 * const stop = new AbortController();
 * process.once('SIGTERM', () => stop.abort());
 * process.exitCode = await runControlPlaneCli(process.argv.slice(2), process.env, { out: console.log, err: console.error }, stop.signal);
 * ```
 */
export async function runControlPlaneCli(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: ControlPlaneCliIo,
  signal: AbortSignal,
): Promise<number> {
  const say = (line: string): void => io.out(`${PROGRAM}: ${line}`);
  const warn = (line: string): void => io.err(`${PROGRAM}: ${line}`);
  const subscriptions: (() => void)[] = [];
  const on = <T>(channel: string, fn: (message: T) => void): void => {
    const listener = (message: unknown): void => fn(message as T);
    diagnosticsChannel.subscribe(channel, listener);
    subscriptions.push(() => diagnosticsChannel.unsubscribe(channel, listener));
  };
  const closers: (() => Promise<void> | void)[] = [];
  try {
    const options = parseControlPlaneArgs(argv, env);
    if (options.help) {
      io.out(CONTROL_PLANE_HELP.trimEnd());
      return 0;
    }
    const ca = await loadPluggedCa(options.cacerts, {
      trustDomain: options.trustDomain,
      defaultTtlMs: options.defaultTtlMs,
      maxTtlMs: options.maxTtlMs,
    });
    say(
      `CA loaded from ${ca.dir}: trust domain ${ca.trustDomain}, signing certificate "${ca.signingSubject}" valid until ${ca.signingNotAfter.toISOString()}, ${plural(ca.rootCount, 'root')}, ${ca.hasCertChainFile ? 'cert-chain.pem' : 'no cert-chain.pem'}`,
    );
    const tokens = await createTokenFileAuthenticator({
      path: options.tokens,
      trustDomain: options.trustDomain,
      clusterId: options.clusterId,
    });
    say(`tokens loaded from ${tokens.path}: ${plural(tokens.size, 'token')} (cluster ${options.clusterId})`);
    on<TokensLoadedEvent>(CONTROL_PLANE_CHANNELS.tokensLoaded, (e) =>
      say(`tokens reloaded from ${e.path}: ${plural(e.tokens, 'token')}`),
    );
    on<TokensErrorEvent>(CONTROL_PLANE_CHANNELS.tokensError, (e) =>
      warn(`tokens: ${e.error.message} (the previous tokens stay)`),
    );

    const store = createWorkloadStore();
    const mesh = await watchMeshFile({
      path: options.mesh,
      store,
      rootNamespace: options.rootNamespace,
      // Kubernetes objects are translated for this cluster (the uids and clusterId istiod would send).
      clusterId: options.clusterId,
      trustDomain: options.trustDomain,
      skipUnsupportedKinds: true,
    });
    closers.push(() => mesh.close());
    say(`mesh loaded from ${mesh.path}: ${describeMesh(mesh.current())}`);
    for (const w of mesh.current().warnings) warn(`mesh: ${w}`);
    on<MeshFileLoadedEvent>(CONTROL_PLANE_CHANNELS.meshFileLoaded, (e) =>
      say(`mesh reloaded from ${e.path}: ${describeMesh(e.contents)}`),
    );
    on<MeshFileErrorEvent>(CONTROL_PLANE_CHANNELS.meshFileError, (e) =>
      warn(`mesh: ${e.error.message} (keeping the last good state)`),
    );

    const nodeAuthorizer = createNodeAuthorizer({
      trustedNodeAccounts: options.trustedNodeAccounts,
      trustDomain: options.trustDomain,
      workloadOnNode: (node, sa) => {
        for (const w of store.workloads())
          if (w.node === node && w.namespace === sa.namespace && w.serviceAccount === sa.serviceAccount)
            return true;
        return false;
      },
    });
    say(
      `trusted node accounts: ${options.trustedNodeAccounts.length === 0 ? 'none (impersonation refused)' : options.trustedNodeAccounts.map((a) => `${a.namespace}/${a.serviceAccount}`).join(', ')}`,
    );
    on<CaIssuedEvent>(CONTROL_PLANE_CHANNELS.caIssued, (e) =>
      say(
        `ca: issued ${e.id}${e.impersonated ? ` to ${e.caller} (impersonation)` : ''} until ${e.notAfter.toISOString()} (${e.peer})`,
      ),
    );
    on<CaRefusedEvent>(CONTROL_PLANE_CHANNELS.caRefused, (e) =>
      warn(`ca: refused ${e.peer}${e.caller === undefined ? '' : ` (${e.caller})`}: ${e.reason}`),
    );
    on<CallRefusedEvent>(CONTROL_PLANE_CHANNELS.callRefused, (e) =>
      warn(`refused ${e.method} from ${e.peer}: ${e.reason}`),
    );
    on<XdsServerConnectedEvent>(WORKLOAD_API_CHANNELS.serverConnected, (e) =>
      say(`xds: stream opened${e.node === undefined ? '' : ` by ${e.node.id}`}`),
    );

    const cp = await startControlPlane({
      listen: options.listen,
      ...(options.plaintextListen === undefined ? {} : { plaintextListen: options.plaintextListen }),
      ca,
      authenticators: [tokens],
      nodeAuthorizer,
      store,
      ...(options.tlsCert === undefined || options.tlsKey === undefined
        ? {}
        : {
            servingCertificate: {
              kind: 'files' as const,
              certFile: options.tlsCert,
              keyFile: options.tlsKey,
            },
          }),
      onServingCertificateError: (e) =>
        warn(`serving certificate: ${(e as Error).message} (the current one stays)`),
    });
    closers.push(() => cp.close());
    const serving = cp.servingCertificate();
    say(
      `serving certificate ${serving.source === 'issued by the CA' ? 'issued by the CA' : `from ${serving.source}`} for ${serving.dnsNames.join(', ') || '(no DNS names)'}, valid until ${serving.notAfter.toISOString()}`,
    );
    say(`listening on ${cp.address} (TLS: delta xDS, Istio CA)`);
    if (cp.plaintextPort !== undefined) {
      const host = (options.plaintextListen as string).replace(/:\d+$/, '');
      say(`listening on ${host}:${cp.plaintextPort} (plaintext: delta xDS)`);
    }

    if (!signal.aborted)
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    say('shutting down');
    return 0;
  } catch (e) {
    if (e instanceof UsageError || e instanceof ControlPlaneError) {
      warn(e.message.split('\n')[0] ?? e.message);
      return 2;
    }
    warn(`unexpected error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  } finally {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch {
        // closing is best effort
      }
    }
    for (const off of subscriptions) off();
  }
}
