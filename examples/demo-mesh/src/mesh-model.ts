/**
 * {@link MeshModel}s for the scenario's expectations: from a mesh file's text (before anything runs, and
 * for the file as step 4 edits it), or from the running mesh (the control plane's store and the
 * waypoints' current policies).
 * @module
 */
import { policyEngineFromMeshFile } from '@ambient-kit/example-waypoint';
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
 * @param text - The file (the waypoints' policies are read from it).
 * @param resources - The same file, parsed.
 * @returns The model, or why the waypoints' policies could not be built.
 * @example
 * ```ts
 * const model = meshModelOf(text, parseMeshFile(text)._unsafeUnwrap());
 * ```
 */
export function meshModelOf(text: string, resources: MeshResources): MeshModel | { readonly error: string } {
  const store = createWorkloadStore();
  store.apply({ resources: [...resources.workloads, ...resources.services, ...resources.policies] });
  const built = policyEngineFromMeshFile(text);
  if ('error' in built) return { error: built.error };
  return { store, waypointPolicies: built.engine };
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
  const policies = mesh.waypoints[0]?.policies.current();
  const none = policyEngineFromMeshFile('');
  const engine = policies ?? ('engine' in none ? none.engine : undefined);
  if (engine === undefined) throw new Error('cannot build an empty policy engine');
  return { store: mesh.meshStore, waypointPolicies: engine };
}
