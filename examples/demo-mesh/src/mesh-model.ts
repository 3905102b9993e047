/**
 * {@link MeshModel}s for the scenario's expectations: from a mesh file's text (before anything runs, and
 * for the file as step 4 edits it), or from the running mesh (the control plane's store and the
 * waypoints' current policies).
 * @module
 */
import { parseL7Config } from '@ambient-kit/example-waypoint';
import { createWorkloadStore, type MeshResource } from '@ambient-kit/workload-api';
import type { MeshModel } from './expected-outcome.js';
import type { DemoMesh } from './mesh-runtime.js';

/** A parsed mesh file's resources (`parseMeshFile`'s value). */
export interface MeshResources {
  readonly workloads: readonly MeshResource[];
  readonly services: readonly MeshResource[];
  readonly policies: readonly MeshResource[];
}

/**
 * The model of a mesh file.
 *
 * @param text - The file (the waypoints' configuration is read from it).
 * @param resources - The same file, parsed.
 * @returns The model, or why the waypoints' configuration could not be built (one line per problem).
 * @example
 * ```ts
 * const model = meshModelOf(text, parseMeshFile(text)._unsafeUnwrap());
 * ```
 */
export function meshModelOf(
  text: string,
  resources: MeshResources,
): MeshModel | { readonly error: string; readonly problems: readonly string[] } {
  const store = createWorkloadStore();
  store.apply({ resources: [...resources.workloads, ...resources.services, ...resources.policies] });
  const built = parseL7Config(text);
  if (built.isErr())
    return {
      error: built.error.message,
      problems: built.error.issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)),
    };
  return { store, waypointPolicies: built.value.engine };
}

/**
 * The model of the running mesh, as it is now.
 *
 * @param mesh - The running demo.
 * @returns The control plane's store and the waypoints' current engine.
 * @example
 * ```ts
 * expectedOutcome(liveModel(mesh), call);
 * ```
 */
export function liveModel(mesh: DemoMesh): MeshModel {
  // One watcher of the mesh file serves every waypoint (mesh-runtime.ts).
  const engine = (mesh.waypoints[0]?.config.current() ?? parseL7Config('')._unsafeUnwrap()).engine;
  return { store: mesh.meshStore, waypointPolicies: engine };
}
