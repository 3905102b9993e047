/**
 * Mistakes in a mesh file that are valid but do nothing, worth a warning. A `selector` policy reaches a
 * workload only through that workload's `authorizationPolicies` list: istiod attaches a selector policy to
 * the workloads whose labels it selects (`Workload.authorization_policies`, workload.proto field 17), and a
 * mesh file carries no labels, so the list is the attachment. A selector policy that no workload lists is
 * sent to every ztunnel and applies to nothing.
 * @module
 */

/** The part of a mesh file's contents this looks at. */
export interface MeshFileShape {
  readonly workloads: readonly { readonly authorizationPolicies: readonly string[] }[];
  readonly policies: readonly { readonly key: string; readonly scope: string }[];
}

/**
 * The selector policies no workload lists in `authorizationPolicies`.
 *
 * @param contents - A parsed mesh file (or a workload store's workloads and policies).
 * @returns Their keys, `namespace/name`, in file order.
 * @example
 * ```ts
 * unattachedSelectorPolicies(parseMeshFile(text)._unsafeUnwrap()); // ['default/echo-allow-sleep']
 * ```
 */
export function unattachedSelectorPolicies(contents: MeshFileShape): string[] {
  const listed = new Set(contents.workloads.flatMap((w) => w.authorizationPolicies));
  return contents.policies
    .filter((p) => p.scope === 'WorkloadSelector' && !listed.has(p.key))
    .map((p) => p.key);
}

/** The warning for one selector policy no workload lists. */
const unattached = (key: string): string =>
  `policy ${key} has a selector but no workload lists it in authorizationPolicies: it applies to nothing`;

/**
 * The warnings for a mesh file, one line each.
 *
 * @param contents - A parsed mesh file.
 * @returns Lines without a trailing newline; empty when there is nothing to say.
 * @example
 * ```ts
 * for (const line of meshFileWarnings(contents)) process.stderr.write(`warning: ${line}\n`);
 * ```
 */
export function meshFileWarnings(contents: MeshFileShape): string[] {
  return unattachedSelectorPolicies(contents).map(unattached);
}

/**
 * Follows a mesh file through its reloads and warns about each unattached selector policy once, when it
 * becomes unattached (again), not on every reload.
 *
 * @param warn - Receives each warning line.
 * @param alreadyWarned - Contents whose warnings were already given elsewhere (not repeated).
 * @returns Call it with the contents after every load.
 * @example
 * ```ts
 * const check = meshFileWarner((line) => process.stderr.write(`warning: ${line}\n`));
 * check(watcher.current());
 * watcher.on('loaded', check);
 * ```
 */
export function meshFileWarner(
  warn: (line: string) => void,
  alreadyWarned?: MeshFileShape,
): (contents: MeshFileShape) => void {
  let warned = new Set(alreadyWarned === undefined ? [] : unattachedSelectorPolicies(alreadyWarned));
  return (contents) => {
    const now = new Set(unattachedSelectorPolicies(contents));
    for (const key of now) if (!warned.has(key)) warn(unattached(key));
    warned = now;
  };
}
