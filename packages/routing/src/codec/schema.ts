/**
 * A small structural validator with the Kubernetes API server's behaviour for CRDs: types are checked,
 * unknown fields are errors at every depth (kubectl's default `--validate=strict`), `null` in an optional
 * field counts as absent (apiextensions prunes nulls of non-nullable fields before validating), and every
 * problem carries its field path. The CRD limits (`maxItems`, `maxLength`, `pattern`, `minimum`...) and
 * CEL rules of each resource are written next to its schema (gateway-api.ts, istio-networking.ts).
 * @module
 */
import { RoutingError } from './errors.js';

/** Where issues are collected while one resource is validated. */
export interface ValidationContext {
  /** `Kind namespace/name`, for messages. */
  readonly resource: string;
  readonly issues: RoutingError[];
}

/** A cross-field rule: returns a message (the CRD's CEL message or istiod's) when the value is invalid. */
export type Rule<T> = (value: T) => string | undefined;

interface Base {
  /** Why a field exists, for readers of the schema; not used at run time. */
  readonly doc?: string;
}

/** A string, with the CRD's length, pattern and enum limits and an optional custom check. */
export interface StringSchema extends Base {
  readonly t: 'string';
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly pattern?: RegExp;
  readonly enum?: readonly string[];
  readonly check?: Rule<string>;
  /** The code used for a failed `check` (default `ROUTING_ERR_SCHEMA`). */
  readonly checkCode?: 'ROUTING_ERR_INVALID' | 'ROUTING_ERR_INVALID_REGEX';
}

/** An integer (int32 unless a wider range is given). */
export interface IntSchema extends Base {
  readonly t: 'int';
  readonly min?: number;
  readonly max?: number;
  /** Also accept a string of digits (JSON encoding of 64-bit protobuf integers). */
  readonly allowString?: boolean;
}

/** A finite number (protobuf `double`). */
export interface NumberSchema extends Base {
  readonly t: 'number';
  readonly min?: number;
  readonly max?: number;
}

/** A boolean. */
export interface BoolSchema extends Base {
  readonly t: 'bool';
}

/** A list. `unique` checks `+listType=set` (whole values) or `+listType=map` (a key field). */
export interface ArraySchema extends Base {
  readonly t: 'array';
  readonly items: Schema;
  readonly minItems?: number;
  readonly maxItems?: number;
  readonly unique?: { readonly key?: string; readonly caseInsensitive?: boolean };
  readonly rules?: readonly Rule<readonly unknown[]>[];
}

/** A map with string keys (protobuf `map<string, V>`, Kubernetes labels). */
export interface MapSchema extends Base {
  readonly t: 'map';
  readonly values: Schema;
  readonly keys?: StringSchema;
  readonly maxProperties?: number;
}

/** An object with known fields. */
export interface ObjectSchema extends Base {
  readonly t: 'object';
  readonly fields: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  /** Groups of fields of which at most one may be set (protobuf `oneof`). */
  readonly oneOf?: readonly (readonly string[])[];
  /** CEL-style rules, run only when the fields themselves are valid. */
  readonly rules?: readonly Rule<Record<string, unknown>>[];
  /** The code used for a failed rule (default `ROUTING_ERR_INVALID`). */
  readonly ruleCode?: 'ROUTING_ERR_SCHEMA' | 'ROUTING_ERR_INVALID';
}

/** Anything (used only for server-owned parts such as `status` and `metadata.managedFields`). */
export interface AnySchema extends Base {
  readonly t: 'any';
}

/** One of the schemas above. */
export type Schema =
  | StringSchema
  | IntSchema
  | NumberSchema
  | BoolSchema
  | ArraySchema
  | MapSchema
  | ObjectSchema
  | AnySchema;

const kindOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;

/**
 * Whether a value is a plain object (a YAML/JSON mapping).
 *
 * @param value - Anything.
 * @returns True for non-null, non-array objects.
 * @example
 * ```ts
 * isRecord({}); // true
 * ```
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Appends a field to a path: `a` + `b` → `a.b`.
 *
 * @param path - The parent path (may be empty).
 * @param field - The field name.
 * @returns The joined path.
 * @example
 * ```ts
 * joinPath('spec', 'rules'); // 'spec.rules'
 * ```
 */
export function joinPath(path: string, field: string): string {
  return path === '' ? field : `${path}.${field}`;
}

/**
 * Records one issue.
 *
 * @param ctx - The context.
 * @param code - The error code.
 * @param path - The field path.
 * @param message - What is wrong.
 * @example
 * ```ts
 * report(ctx, 'ROUTING_ERR_INVALID', 'spec.hosts[0]', 'wildcard host * is not allowed');
 * ```
 */
export function report(
  ctx: ValidationContext,
  code: RoutingError['code'],
  path: string,
  message: string,
): void {
  ctx.issues.push(new RoutingError(code, message, { resource: ctx.resource, path }));
}

/**
 * Validates a value against a schema, recording every problem in `ctx`.
 *
 * @param schema - The schema.
 * @param value - The value (from YAML or JSON).
 * @param path - The field path of the value.
 * @param ctx - Where issues go.
 * @returns Whether the value was valid (no new issues).
 * @example
 * ```ts
 * validateValue({ t: 'int', min: 0 }, -1, 'spec.weight', ctx); // false, one issue
 * ```
 */
export function validateValue(schema: Schema, value: unknown, path: string, ctx: ValidationContext): boolean {
  const before = ctx.issues.length;
  check(schema, value, path, ctx);
  return ctx.issues.length === before;
}

function check(schema: Schema, value: unknown, path: string, ctx: ValidationContext): void {
  switch (schema.t) {
    case 'any':
      return;
    case 'string':
      checkString(schema, value, path, ctx);
      return;
    case 'int':
      checkInt(schema, value, path, ctx);
      return;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        report(ctx, 'ROUTING_ERR_SCHEMA', path, `must be a number, got ${kindOf(value)}`);
        return;
      }
      if (schema.min !== undefined && value < schema.min)
        report(ctx, 'ROUTING_ERR_SCHEMA', path, `must be >= ${schema.min}, got ${value}`);
      if (schema.max !== undefined && value > schema.max)
        report(ctx, 'ROUTING_ERR_SCHEMA', path, `must be <= ${schema.max}, got ${value}`);
      return;
    case 'bool':
      if (typeof value !== 'boolean')
        report(ctx, 'ROUTING_ERR_SCHEMA', path, `must be a boolean, got ${kindOf(value)}`);
      return;
    case 'array':
      checkArray(schema, value, path, ctx);
      return;
    case 'map':
      checkMap(schema, value, path, ctx);
      return;
    case 'object':
      checkObject(schema, value, path, ctx);
      return;
  }
}

function checkString(schema: StringSchema, value: unknown, path: string, ctx: ValidationContext): void {
  if (typeof value !== 'string') {
    report(ctx, 'ROUTING_ERR_SCHEMA', path, `must be a string, got ${kindOf(value)}`);
    return;
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) {
    report(
      ctx,
      'ROUTING_ERR_SCHEMA',
      path,
      `must be one of ${schema.enum.join(', ')}, got ${JSON.stringify(value)}`,
    );
    return;
  }
  // Kubernetes counts characters (code points), not UTF-16 units.
  const length = schema.minLength !== undefined || schema.maxLength !== undefined ? [...value].length : 0;
  if (schema.minLength !== undefined && length < schema.minLength) {
    report(ctx, 'ROUTING_ERR_SCHEMA', path, `must be at least ${schema.minLength} characters long`);
    return;
  }
  if (schema.maxLength !== undefined && length > schema.maxLength) {
    report(ctx, 'ROUTING_ERR_SCHEMA', path, `must be at most ${schema.maxLength} characters long`);
    return;
  }
  if (schema.pattern !== undefined && !schema.pattern.test(value)) {
    report(
      ctx,
      'ROUTING_ERR_SCHEMA',
      path,
      `must match ${schema.pattern.source}, got ${JSON.stringify(value)}`,
    );
    return;
  }
  if (schema.check !== undefined) {
    const message = schema.check(value);
    if (message !== undefined) report(ctx, schema.checkCode ?? 'ROUTING_ERR_SCHEMA', path, message);
  }
}

function checkInt(schema: IntSchema, value: unknown, path: string, ctx: ValidationContext): void {
  let n = value;
  if (schema.allowString === true && typeof value === 'string' && /^-?[0-9]{1,20}$/.test(value))
    n = Number(value);
  if (typeof n !== 'number' || !Number.isInteger(n)) {
    report(ctx, 'ROUTING_ERR_SCHEMA', path, `must be an integer, got ${kindOf(value)}`);
    return;
  }
  const min = schema.min ?? -2147483648;
  const max = schema.max ?? 2147483647;
  if (n < min) report(ctx, 'ROUTING_ERR_SCHEMA', path, `must be >= ${min}, got ${n}`);
  else if (n > max) report(ctx, 'ROUTING_ERR_SCHEMA', path, `must be <= ${max}, got ${n}`);
}

function checkArray(schema: ArraySchema, value: unknown, path: string, ctx: ValidationContext): void {
  if (!Array.isArray(value)) {
    report(ctx, 'ROUTING_ERR_SCHEMA', path, `must be a list, got ${kindOf(value)}`);
    return;
  }
  if (schema.minItems !== undefined && value.length < schema.minItems) {
    report(ctx, 'ROUTING_ERR_SCHEMA', path, `must have at least ${schema.minItems} items`);
  }
  if (schema.maxItems !== undefined && value.length > schema.maxItems) {
    // The API server rejects before looking inside, so do not report every item too.
    report(
      ctx,
      'ROUTING_ERR_SCHEMA',
      path,
      `must have at most ${schema.maxItems} items, got ${value.length}`,
    );
    return;
  }
  const before = ctx.issues.length;
  value.forEach((item, i) => {
    check(schema.items, item, `${path}[${i}]`, ctx);
  });
  if (ctx.issues.length !== before) return;
  if (schema.unique !== undefined) {
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const raw =
        schema.unique?.key === undefined
          ? JSON.stringify(item)
          : String((item as Record<string, unknown>)[schema.unique.key]);
      const key = schema.unique?.caseInsensitive === true ? raw.toLowerCase() : raw;
      if (seen.has(key)) report(ctx, 'ROUTING_ERR_SCHEMA', `${path}[${i}]`, `duplicate entry ${raw}`);
      seen.add(key);
    });
  }
  if (ctx.issues.length !== before) return;
  for (const rule of schema.rules ?? []) {
    const message = rule(value);
    if (message !== undefined) report(ctx, 'ROUTING_ERR_INVALID', path, message);
  }
}

function checkMap(schema: MapSchema, value: unknown, path: string, ctx: ValidationContext): void {
  if (!isRecord(value)) {
    report(ctx, 'ROUTING_ERR_SCHEMA', path, `must be a map, got ${kindOf(value)}`);
    return;
  }
  const keys = Object.keys(value);
  if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) {
    report(ctx, 'ROUTING_ERR_SCHEMA', path, `must have at most ${schema.maxProperties} entries`);
    return;
  }
  for (const key of keys) {
    const at = `${path}[${key}]`;
    if (schema.keys !== undefined) check(schema.keys, key, at, ctx);
    check(schema.values, value[key], at, ctx);
  }
}

function checkObject(schema: ObjectSchema, value: unknown, path: string, ctx: ValidationContext): void {
  if (!isRecord(value)) {
    report(ctx, 'ROUTING_ERR_SCHEMA', path, `must be an object, got ${kindOf(value)}`);
    return;
  }
  const before = ctx.issues.length;
  for (const key of Object.keys(value)) {
    const field = schema.fields[key];
    if (field === undefined || !Object.hasOwn(schema.fields, key)) {
      report(ctx, 'ROUTING_ERR_SCHEMA', joinPath(path, key), 'unknown field');
      continue;
    }
    const v = value[key];
    if (v === null) continue;
    check(field, v, joinPath(path, key), ctx);
  }
  for (const key of schema.required ?? []) {
    if (value[key] === undefined || value[key] === null)
      report(ctx, 'ROUTING_ERR_SCHEMA', joinPath(path, key), 'required field is missing');
  }
  for (const group of schema.oneOf ?? []) {
    const set = group.filter((k) => value[k] !== undefined && value[k] !== null);
    if (set.length > 1)
      report(
        ctx,
        'ROUTING_ERR_SCHEMA',
        path,
        `only one of ${group.join(', ')} may be set, got ${set.join(' and ')}`,
      );
  }
  if (ctx.issues.length !== before) return;
  for (const rule of schema.rules ?? []) {
    const message = rule(value);
    if (message !== undefined) report(ctx, schema.ruleCode ?? 'ROUTING_ERR_INVALID', path, message);
  }
}

/** Shorthands for schema literals. */
export const s = {
  str: (o: Omit<StringSchema, 't'> = {}): StringSchema => ({ t: 'string', ...o }),
  int: (o: Omit<IntSchema, 't'> = {}): IntSchema => ({ t: 'int', ...o }),
  num: (o: Omit<NumberSchema, 't'> = {}): NumberSchema => ({ t: 'number', ...o }),
  bool: (): BoolSchema => ({ t: 'bool' }),
  any: (): AnySchema => ({ t: 'any' }),
  arr: (items: Schema, o: Omit<ArraySchema, 't' | 'items'> = {}): ArraySchema => ({
    t: 'array',
    items,
    ...o,
  }),
  map: (values: Schema, o: Omit<MapSchema, 't' | 'values'> = {}): MapSchema => ({ t: 'map', values, ...o }),
  obj: (fields: Record<string, Schema>, o: Omit<ObjectSchema, 't' | 'fields'> = {}): ObjectSchema => ({
    t: 'object',
    fields,
    ...o,
  }),
} as const;
