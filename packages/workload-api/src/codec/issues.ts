/**
 * Collects validation problems while a message is converted, so one pass reports all of them
 * (decode -> validate -> model, collecting every error, after grpc-js-xds `ValidationResult`).
 * @module
 */
import { err, ok, type Result } from 'neverthrow';
import { type ValidationIssue, WorkloadApiError, type WorkloadApiErrorCode } from './errors.js';
import { type ModelParts, modelParts } from './model-parts.js';
import type { ConvertOptions } from './network.js';

/** A growable list of {@link ValidationIssue}s with a path prefix for nested messages. */
export interface IssueList {
  /** Every issue added so far, in order. */
  readonly issues: ValidationIssue[];
  /**
   * Records one problem.
   * @param path - Path below the list's prefix, e.g. `addresses[0]`.
   * @param code - The error code.
   * @param message - What is wrong.
   */
  add(path: string, code: WorkloadApiErrorCode, message: string): void;
  /**
   * A view that prefixes paths with `prefix.` and records into the same list.
   * @param prefix - The nested field's path.
   */
  at(prefix: string): IssueList;
}

class Issues implements IssueList {
  readonly issues: ValidationIssue[];
  private readonly prefix: string;

  constructor(prefix: string, issues: ValidationIssue[]) {
    this.prefix = prefix;
    this.issues = issues;
  }

  private join(path: string): string {
    return this.prefix === '' ? path : path === '' ? this.prefix : `${this.prefix}.${path}`;
  }

  add(path: string, code: WorkloadApiErrorCode, message: string): void {
    this.issues.push({ path: this.join(path), code, message });
  }

  at(sub: string): IssueList {
    return new Issues(this.join(sub), this.issues);
  }
}

/**
 * Creates an empty {@link IssueList}.
 *
 * @param prefix - Path prefix for every issue (empty for the top level).
 * @param issues - The array to append to (shared between nested views).
 * @returns The list.
 * @example
 * ```ts
 * const list = createIssueList();
 * list.at('workload').add('uid', 'WORKLOAD_API_ERR_MISSING_FIELD', 'uid is empty');
 * list.issues[0]?.path; // 'workload.uid'
 * ```
 */
export function createIssueList(prefix = '', issues: ValidationIssue[] = []): IssueList {
  // A class rather than closures: one small object per nested view on the decode hot path.
  return new Issues(prefix, issues);
}

const same = (value: string): string => value;

/**
 * Runs one proto-to-model conversion the way every `*FromProto` does: with a fresh {@link IssueList}, the
 * caller's interner (none by default) and the parts shared in its context, giving the model or one
 * {@link WorkloadApiError} that lists every issue.
 *
 * @param convert - The conversion, e.g. `convertWorkload`; `undefined` or any recorded issue fails.
 * @param msg - The decoded message.
 * @param options - Optional string interner.
 * @returns The model, or the error with every issue.
 * @example
 * ```ts
 * collectIssues(convertWorkload, msg, { intern: createInterner() }); // what workloadFromProto returns
 * ```
 */
export function collectIssues<M, T>(
  convert: (
    msg: M,
    issues: IssueList,
    intern: (value: string) => string,
    parts: ModelParts | undefined,
  ) => T | undefined,
  msg: M,
  options: ConvertOptions | undefined,
): Result<T, WorkloadApiError> {
  const issues = createIssueList();
  const intern = options?.intern;
  const value = convert(msg, issues, intern ?? same, intern === undefined ? undefined : modelParts(intern));
  return value === undefined || issues.issues.length > 0
    ? err(WorkloadApiError.fromIssues(issues.issues))
    : ok(value);
}

/**
 * Returns a deduplicating string interner: equal strings decoded from many messages (namespaces,
 * networks, trust domains, node names) then share one heap copy, as ztunnel's `Strng` does. The table is
 * cleared when it reaches `maxEntries`, so memory stays bounded with adversarial input.
 *
 * @param maxEntries - Table size at which it starts over. Default 65536.
 * @returns The interning function.
 * @example
 * ```ts
 * const intern = createInterner();
 * intern('default') === intern(['def', 'ault'].join('')); // true (same instance)
 * ```
 */
export function createInterner(maxEntries = 65_536): (value: string) => string {
  let table = new Map<string, string>();
  return (value) => {
    if (value === '') return value;
    const hit = table.get(value);
    if (hit !== undefined) return hit;
    if (table.size >= maxEntries) table = new Map();
    table.set(value, value);
    return value;
  };
}
