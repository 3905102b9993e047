/**
 * A small strict schema checker for the Kubernetes objects the mesh file translates: every object field is
 * listed, an unknown one is an issue with its path at any depth (docs/contributing.md: config with an
 * unknown field is rejected with its path), a `null` field is absent (as the API server reads it). Pure.
 * @module
 */
import type { ControlPlaneIssue } from './errors.js';

/** A schema: what a value may be. */
export type Schema =
  | {
      readonly t: 'str';
      readonly check?: (v: string) => string | undefined;
      readonly oneOf?: readonly string[];
    }
  | { readonly t: 'int'; readonly min: number; readonly max: number }
  | { readonly t: 'bool' }
  | { readonly t: 'arr'; readonly of: Schema; readonly maxItems?: number }
  | { readonly t: 'map'; readonly of: Schema; readonly key?: (k: string) => string | undefined }
  | {
      readonly t: 'obj';
      readonly fields: Readonly<Record<string, Schema>>;
      readonly required?: readonly string[];
      /** Fields not listed are accepted unchecked (used for `status`, which the API server owns). */
      readonly open?: boolean;
    }
  | { readonly t: 'intOrStr' }
  | { readonly t: 'any' };

type Obj = { readonly [key: string]: unknown };
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The schema builders of {@link k}. */
export interface SchemaBuilders {
  str(opts?: { check?: (v: string) => string | undefined; oneOf?: readonly string[] }): Schema;
  int(min?: number, max?: number): Schema;
  bool(): Schema;
  arr(of: Schema, maxItems?: number): Schema;
  map(of: Schema, key?: (k: string) => string | undefined): Schema;
  obj(fields: Readonly<Record<string, Schema>>, required?: readonly string[], open?: boolean): Schema;
  intOrStr(): Schema;
  any(): Schema;
}

/**
 * Schema builders.
 *
 * @example
 * ```ts
 * const port = k.obj({ name: k.str(), port: k.int(1, 65535) }, ['port']);
 * ```
 */
export const k: SchemaBuilders = {
  str: (opts: { check?: (v: string) => string | undefined; oneOf?: readonly string[] } = {}): Schema => ({
    t: 'str',
    ...opts,
  }),
  int: (min = 0, max = Number.MAX_SAFE_INTEGER): Schema => ({ t: 'int', min, max }),
  bool: (): Schema => ({ t: 'bool' }),
  arr: (of: Schema, maxItems?: number): Schema =>
    maxItems === undefined ? { t: 'arr', of } : { t: 'arr', of, maxItems },
  map: (of: Schema, key?: (k: string) => string | undefined): Schema =>
    key === undefined ? { t: 'map', of } : { t: 'map', of, key },
  obj: (
    fields: Readonly<Record<string, Schema>>,
    required: readonly string[] = [],
    open = false,
  ): Schema => ({
    t: 'obj',
    fields,
    required,
    open,
  }),
  intOrStr: (): Schema => ({ t: 'intOrStr' }),
  any: (): Schema => ({ t: 'any' }),
};

const join = (path: string, field: string): string => (path === '' ? field : `${path}.${field}`);

/**
 * Checks `value` against `schema`, appending one `CONTROL_PLANE_ERR_BAD_OBJECT` issue per problem.
 *
 * @param schema - The schema.
 * @param value - The value (parsed YAML).
 * @param path - Where the value is, e.g. `document[3].spec`.
 * @param issues - Where problems go.
 * @returns Whether the value is valid.
 * @example
 * ```ts
 * const issues: ControlPlaneIssue[] = [];
 * checkValue(k.obj({ port: k.int(1, 65535) }), { prot: 80 }, 'document[0].spec', issues);
 * // issues[0].path === 'document[0].spec.prot', message 'unknown field'
 * ```
 */
export function checkValue(
  schema: Schema,
  value: unknown,
  path: string,
  issues: ControlPlaneIssue[],
): boolean {
  const bad = (message: string): false => {
    issues.push({ path, code: 'CONTROL_PLANE_ERR_BAD_OBJECT', message });
    return false;
  };
  switch (schema.t) {
    case 'any':
      return true;
    case 'str': {
      if (typeof value !== 'string') return bad('expected a string');
      if (schema.oneOf !== undefined && !schema.oneOf.includes(value))
        return bad(`expected one of ${schema.oneOf.join(', ')}, got ${JSON.stringify(value)}`);
      const why = schema.check?.(value);
      return why === undefined ? true : bad(why);
    }
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) return bad('expected an integer');
      if (value < schema.min || value > schema.max)
        return bad(`must be between ${schema.min} and ${schema.max}, got ${value}`);
      return true;
    case 'bool':
      return typeof value === 'boolean' ? true : bad('expected true or false');
    case 'intOrStr':
      return typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value))
        ? true
        : bad('expected an integer or a string');
    case 'arr': {
      if (!Array.isArray(value)) return bad('expected a list');
      if (schema.maxItems !== undefined && value.length > schema.maxItems)
        return bad(`at most ${schema.maxItems} items`);
      let ok = true;
      value.forEach((item, i) => {
        if (!checkValue(schema.of, item, `${path}[${i}]`, issues)) ok = false;
      });
      return ok;
    }
    case 'map': {
      if (!isObj(value)) return bad('expected a map');
      let ok = true;
      for (const [key, v] of Object.entries(value)) {
        const why = schema.key?.(key);
        if (why !== undefined) {
          issues.push({ path: join(path, key), code: 'CONTROL_PLANE_ERR_BAD_OBJECT', message: why });
          ok = false;
        }
        if (!checkValue(schema.of, v, join(path, key), issues)) ok = false;
      }
      return ok;
    }
    case 'obj': {
      if (!isObj(value)) return bad('expected a map');
      let ok = true;
      for (const [key, v] of Object.entries(value)) {
        const field = Object.hasOwn(schema.fields, key) ? schema.fields[key] : undefined;
        if (field === undefined) {
          if (schema.open === true) continue;
          issues.push({
            path: join(path, key),
            code: 'CONTROL_PLANE_ERR_BAD_OBJECT',
            message: 'unknown field',
          });
          ok = false;
          continue;
        }
        // The API server reads an explicit null as an absent field.
        if (v === null) continue;
        if (!checkValue(field, v, join(path, key), issues)) ok = false;
      }
      for (const r of schema.required ?? []) {
        if (value[r] === undefined || value[r] === null) {
          issues.push({ path: join(path, r), code: 'CONTROL_PLANE_ERR_BAD_OBJECT', message: 'required' });
          ok = false;
        }
      }
      return ok;
    }
  }
}
