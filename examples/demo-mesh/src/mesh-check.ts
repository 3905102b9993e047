/**
 * Everything the demo checks in a mesh file before it starts anything, so a mistake is one line per problem
 * against the user's file (and exit code 2), never a stack trace or a scenario that fails for a reason it
 * does not state:
 *
 * - the file itself (`parseMeshFile`: strict, every unknown key rejected with its path), each problem once;
 * - what the demo adds: pods and waypoints live on loopback addresses;
 * - that the scenario has a cast (cast.ts) and its live change applies to the file.
 *
 * Valid files that do something the author likely did not mean get warnings (mesh-warnings in the example
 * ztunnel).
 * @module
 */

import { parseMeshFile } from '@ambient-kit/control-plane';
import { meshFileWarnings } from '@ambient-kit/example-ztunnel';
import type { Workload } from '@ambient-kit/workload-api';
import { type Cast, castScenario } from './cast.js';
import type { MeshModel } from './expected-outcome.js';
import { meshModelOf } from './mesh-model.js';
import { applyPolicyChange } from './policy-edit.js';
import { liveChangeFor } from './scenario.js';

/** The outcome of {@link checkDemoMeshFile}. */
export type DemoMeshFileCheck =
  | {
      readonly ok: true;
      readonly model: MeshModel;
      readonly cast: Cast;
      /** One line each. */
      readonly warnings: readonly string[];
    }
  | { readonly ok: false; readonly problems: readonly string[] };

const LOOPBACK = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** The demo binds every pod's app and every waypoint on the workload's first IP: it must be on loopback. */
function notOnLoopback(workloads: readonly Workload[]): string[] {
  const problems: string[] = [];
  for (const w of workloads) {
    const ip = w.workloadIps[0];
    if (ip !== undefined && !LOOPBACK.test(ip)) {
      problems.push(
        `workload ${w.uid}: ${ip} is not in 127.0.0.0/8 (the demo runs every pod on a loopback address, no root)`,
      );
    }
  }
  return problems;
}

/**
 * Checks a mesh file for the demo.
 *
 * @param text - The file.
 * @returns The model and cast, with warnings; or every problem, one line each, each once.
 * @example
 * ```ts
 * const checked = checkDemoMeshFile(text);
 * if (!checked.ok) for (const p of checked.problems) process.stderr.write(`mesh.yaml: ${p}\n`);
 * ```
 */
export function checkDemoMeshFile(text: string): DemoMeshFileCheck {
  // The L7 kinds are the waypoint's (parsed below, by its own reader); the control plane skips them.
  const parsed = parseMeshFile(text, { skipUnsupportedKinds: true });
  if (parsed.isErr()) {
    const lines = parsed.error.issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`));
    return { ok: false, problems: [...new Set(lines)] };
  }
  const contents = parsed.value;
  const loopback = notOnLoopback(contents.workloads);
  if (loopback.length > 0) return { ok: false, problems: loopback };
  const model = meshModelOf(text, contents);
  if ('error' in model) return { ok: false, problems: [...new Set(model.problems)] };
  const cast = castScenario(model);
  if (!cast.ok) return { ok: false, problems: cast.problems };
  try {
    applyPolicyChange(text, liveChangeFor(cast.cast));
  } catch (error) {
    return { ok: false, problems: [`step 4 cannot edit the file: ${(error as Error).message}`] };
  }
  return { ok: true, model, cast: cast.cast, warnings: meshFileWarnings(contents) };
}
