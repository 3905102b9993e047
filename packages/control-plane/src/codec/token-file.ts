/**
 * The token file: the stand-in for Kubernetes TokenReview. istiod authenticates a caller by sending its
 * bearer token to the API server, which answers with the service account it belongs to
 * (`system:serviceaccount:<namespace>:<name>`, istio/istio@00af2c55:security/pkg/server/ca/authenticate/kubeauth/kube_jwt.go).
 * With no API server, the file lists the accepted tokens and the account each one stands for. Pure: text
 * in, entries out (docs/identity.md, "The token file").
 *
 * ```text
 * # <token> <namespace>/<serviceaccount> [<node>]
 * 3f1c...e9 istio-system/ztunnel node-a
 * 77ab...01 default/sleep
 * 9c0d...42 system:serviceaccount:default:echo
 * ```
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { ControlPlaneError, type ControlPlaneIssue } from './errors.js';

/** One accepted token. */
export interface TokenEntry {
  /** The bearer token, exactly as the caller sends it after `Bearer `. */
  readonly token: string;
  /** The service account's namespace. */
  readonly namespace: string;
  /** The service account. */
  readonly serviceAccount: string;
  /**
   * The node the caller runs on, if known (TokenReview's pod-bound token names the pod, and istiod looks up
   * its node). Needed for the per-node check of impersonation.
   */
  readonly node?: string;
  /** The 1-based line it came from. */
  readonly line: number;
}

/** The largest token file read: 1 MiB. */
export const MAX_TOKEN_FILE_BYTES: number = 1024 * 1024;
/** The longest token accepted (Kubernetes service-account JWTs are about 1 KiB). */
export const MAX_TOKEN_CHARS: number = 16 * 1024;

// Kubernetes names: a namespace is an RFC 1123 label, a service account and a node RFC 1123 subdomains.
const LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
// What a header value carries, minus the space that separates the fields.
const TOKEN = /^[\x21-\x7e]+$/;

/**
 * A service account written `namespace/name` (the form of `CA_TRUSTED_NODE_ACCOUNTS`) or
 * `system:serviceaccount:namespace:name` (the Kubernetes user name TokenReview answers with).
 *
 * @param text - The account.
 * @returns The parts, or why not.
 * @example
 * ```ts
 * parseServiceAccount('istio-system/ztunnel'); // ok({ namespace: 'istio-system', serviceAccount: 'ztunnel' })
 * ```
 */
export function parseServiceAccount(
  text: string,
): Result<{ readonly namespace: string; readonly serviceAccount: string }, string> {
  const k8s = /^system:serviceaccount:([^:]*):([^:]*)$/.exec(text);
  const parts = k8s === null ? text.split('/') : [k8s[1] as string, k8s[2] as string];
  if (parts.length !== 2)
    return err(
      `expected <namespace>/<serviceaccount> or system:serviceaccount:<namespace>:<serviceaccount>, got ${JSON.stringify(text.slice(0, 300))}`,
    );
  const [namespace, serviceAccount] = parts as [string, string];
  if (!LABEL.test(namespace)) return err(`namespace ${JSON.stringify(namespace)} is not a Kubernetes name`);
  if (!SUBDOMAIN.test(serviceAccount))
    return err(`service account ${JSON.stringify(serviceAccount)} is not a Kubernetes name`);
  return ok({ namespace, serviceAccount });
}

/**
 * Parses a token file: one `<token> <account> [<node>]` per line, fields separated by spaces or tabs, the
 * account as {@link parseServiceAccount} reads it; empty lines and lines starting with `#` are skipped.
 * Every problem is collected; a token is never quoted in a message.
 *
 * @param text - The file content.
 * @returns The entries, or a `CONTROL_PLANE_ERR_BAD_TOKEN_FILE` error listing each bad line.
 * @example
 * ```ts
 * const entries = parseTokenFile('s3cr3t istio-system/ztunnel node-a\n')._unsafeUnwrap();
 * entries[0]?.serviceAccount; // 'ztunnel'
 * ```
 */
export function parseTokenFile(text: string): Result<TokenEntry[], ControlPlaneError> {
  if (text.length > MAX_TOKEN_FILE_BYTES) {
    return err(
      new ControlPlaneError(
        'CONTROL_PLANE_ERR_TOO_LARGE',
        `the token file is larger than ${MAX_TOKEN_FILE_BYTES} bytes`,
      ),
    );
  }
  const issues: ControlPlaneIssue[] = [];
  const entries: TokenEntry[] = [];
  const seen = new Map<string, number>();
  const problem = (line: number, message: string): void => {
    issues.push({ path: `line ${line}`, code: 'CONTROL_PLANE_ERR_BAD_TOKEN_FILE', message });
  };
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const content = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const trimmed = content.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const fields = trimmed.split(/[ \t]+/);
    if (fields.length < 2 || fields.length > 3) {
      problem(
        line,
        `expected <token> <namespace>/<serviceaccount> [<node>], found ${fields.length} field(s)`,
      );
      return;
    }
    const [token, account, node] = fields as [string, string, string | undefined];
    if (token.length > MAX_TOKEN_CHARS || !TOKEN.test(token)) {
      problem(line, `the token must be 1 to ${MAX_TOKEN_CHARS} visible ASCII characters`);
      return;
    }
    const sa = parseServiceAccount(account);
    if (sa.isErr()) {
      problem(line, sa.error);
      return;
    }
    if (node !== undefined && !SUBDOMAIN.test(node)) {
      problem(line, `node ${JSON.stringify(node.slice(0, 300))} is not a Kubernetes name`);
      return;
    }
    const first = seen.get(token);
    if (first !== undefined) {
      problem(line, `the same token as line ${first}`);
      return;
    }
    seen.set(token, line);
    entries.push({ token, ...sa.value, ...(node === undefined ? {} : { node }), line });
  });
  if (issues.length > 0) return err(ControlPlaneError.fromIssues(issues));
  return ok(entries);
}

/**
 * Parses `CA_TRUSTED_NODE_ACCOUNTS`: comma-separated `namespace/serviceaccount` pairs, the accounts allowed
 * to ask for certificates on behalf of the workloads of their node (istio/istio@86c9f01f:pilot/pkg/features/security.go).
 * istiod skips an invalid entry with a warning; here it is an error, so a typo cannot quietly revoke (or
 * grant) anything. Empty entries are skipped; the empty string is no account at all.
 *
 * @param text - The value.
 * @returns The accounts, or `CONTROL_PLANE_ERR_BAD_OPTION`.
 * @example
 * ```ts
 * parseTrustedNodeAccounts('istio-system/ztunnel')._unsafeUnwrap(); // [{ namespace: 'istio-system', serviceAccount: 'ztunnel' }]
 * ```
 */
export function parseTrustedNodeAccounts(
  text: string,
): Result<{ readonly namespace: string; readonly serviceAccount: string }[], ControlPlaneError> {
  const accounts: { readonly namespace: string; readonly serviceAccount: string }[] = [];
  for (const item of text.split(',')) {
    const entry = item.trim();
    if (entry === '') continue;
    const sa = parseServiceAccount(entry);
    if (sa.isErr() || entry.startsWith('system:'))
      return err(
        new ControlPlaneError(
          'CONTROL_PLANE_ERR_BAD_OPTION',
          `CA_TRUSTED_NODE_ACCOUNTS: ${sa.isErr() ? sa.error : `expected <namespace>/<serviceaccount>, got ${JSON.stringify(entry)}`}`,
        ),
      );
    accounts.push(sa.value);
  }
  return ok(accounts);
}
