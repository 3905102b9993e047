/**
 * decode -> validate -> model for the two WDS resource types, with a size cap checked before any byte is
 * parsed, and the reverse encoders (docs/contributing.md, "Errors": a Result at the wire boundary).
 * @module
 */
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { err, ok, type Result } from 'neverthrow';
import { AuthorizationSchema } from '../gen/authorization_pb.js';
import { type Address as AddressProto, AddressSchema } from '../gen/workload_pb.js';
import { decodeAddressModel, Malformed } from './address-decoder.js';
import { writeAddressResource } from './address-encoder.js';
import { type Authorization, authorizationFromProto, authorizationToProto } from './authorization.js';
import { WorkloadApiError } from './errors.js';
import { collectIssues, type IssueList } from './issues.js';
import { type ModelParts, modelParts } from './model-parts.js';
import type { ConvertOptions } from './network.js';
import { ADDRESS_TYPE_URL, type AddressResource, AUTHORIZATION_TYPE_URL } from './resource.js';
import { convertService, serviceToProto } from './service.js';
import { convertWorkload, workloadToProto } from './workload.js';

/**
 * Default cap on one encoded resource: 4 MiB (ztunnel caps a whole xDS response at 200 MiB).
 *
 * @example
 * ```ts
 * decodeAddress(bytes, { maxBytes: DEFAULT_MAX_RESOURCE_BYTES / 4 });
 * ```
 */
export const DEFAULT_MAX_RESOURCE_BYTES: number = 4 * 1024 * 1024;

/** Options for {@link decodeAddress} and {@link decodeAuthorization}. */
export interface DecodeOptions extends ConvertOptions {
  /** Largest accepted input; longer input fails before parsing. Default {@link DEFAULT_MAX_RESOURCE_BYTES}. */
  readonly maxBytes?: number;
}

function tooLarge(
  length: number,
  options: DecodeOptions | undefined,
  what: string,
): WorkloadApiError | undefined {
  const max = options?.maxBytes ?? DEFAULT_MAX_RESOURCE_BYTES;
  return length > max
    ? new WorkloadApiError(
        'WORKLOAD_API_ERR_TOO_LARGE',
        `${what} is ${length} bytes, above the ${max}-byte cap`,
      )
    : undefined;
}

function parse<T>(what: string, fn: () => T): Result<T, WorkloadApiError> {
  try {
    return ok(fn());
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    return err(
      new WorkloadApiError('WORKLOAD_API_ERR_DECODE', `${what} does not decode: ${detail}`, { cause }),
    );
  }
}

/**
 * Validates a decoded `istio.workload.Address` and converts it to a workload or service model.
 *
 * @param msg - The message.
 * @param options - Optional string interner.
 * @returns The model, or a {@link WorkloadApiError} listing every issue.
 * @example
 * ```ts
 * addressFromProto(create(AddressSchema, { type: { case: 'workload', value: create(WorkloadSchema, { uid: 'u' }) } }));
 * ```
 */
export function addressFromProto(
  msg: AddressProto,
  options?: ConvertOptions,
): Result<AddressResource, WorkloadApiError> {
  return collectIssues(convertAddress, msg, options);
}

function convertAddress(
  msg: AddressProto,
  issues: IssueList,
  intern: (value: string) => string,
  parts: ModelParts | undefined,
): AddressResource | undefined {
  switch (msg.type.case) {
    case 'workload':
      return convertWorkload(msg.type.value, issues.at('workload'), intern, parts);
    case 'service':
      return convertService(msg.type.value, issues.at('service'), intern, parts);
    default:
      issues.add(
        'type',
        'WORKLOAD_API_ERR_MISSING_RESOURCE',
        'unknown address type: neither workload nor service is set',
      );
      return undefined;
  }
}

/**
 * Decodes and validates an encoded `istio.workload.Address` (the value of an xDS resource of type
 * {@link ADDRESS_TYPE_URL}). Never throws: malformed bytes, oversized input and invalid content all come
 * back as a {@link WorkloadApiError}.
 *
 * @param bytes - The encoded message.
 * @param options - Size cap and string interner.
 * @returns The workload or service model.
 * @example
 * ```ts
 * const res = decodeAddress(bytes);
 * if (res.isOk() && res.value.kind === 'workload') console.log(res.value.identity);
 * ```
 */
export function decodeAddress(
  bytes: Uint8Array,
  options?: DecodeOptions,
): Result<AddressResource, WorkloadApiError> {
  return decodeAddressAt(bytes, 0, bytes.length, options);
}

/**
 * {@link decodeAddress} of `buf[start, end)`, without a view of it: how the xDS client decodes resources in
 * place in a response. Internal to the package.
 *
 * @example
 * ```ts
 * decodeAddressAt(response, at, at + length, { intern });
 * ```
 */
export function decodeAddressAt(
  buf: Uint8Array,
  start: number,
  end: number,
  options?: DecodeOptions,
): Result<AddressResource, WorkloadApiError> {
  const what = 'istio.workload.Address';
  const large = tooLarge(end - start, options, what);
  if (large !== undefined) return err(large);
  const intern = options?.intern;
  // The direct decoder answers for every valid resource it understands and refuses what is not
  // well-formed protobuf; the rest (validation issues, rare features) takes the plain path, which also
  // words every validation error.
  const model = decodeAddressModel(buf, start, end, intern === undefined ? undefined : modelParts(intern));
  if (model instanceof Malformed) {
    return err(new WorkloadApiError('WORKLOAD_API_ERR_DECODE', `${what} does not decode: ${model.message}`));
  }
  if (model !== undefined) return ok(model);
  const bytes = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
  return parse(what, () => fromBinary(AddressSchema, bytes)).andThen((msg) => addressFromProto(msg, options));
}

/**
 * Decodes and validates an encoded `istio.security.Authorization` (type {@link AUTHORIZATION_TYPE_URL}).
 *
 * @param bytes - The encoded message.
 * @param options - Size cap and string interner.
 * @returns The policy model.
 * @example
 * ```ts
 * decodeAuthorization(bytes).map((p) => p.key); // Ok('ns/name')
 * ```
 */
export function decodeAuthorization(
  bytes: Uint8Array,
  options?: DecodeOptions,
): Result<Authorization, WorkloadApiError> {
  const what = 'istio.security.Authorization';
  const large = tooLarge(bytes.length, options, what);
  if (large !== undefined) return err(large);
  return parse(what, () => fromBinary(AuthorizationSchema, bytes)).andThen((msg) =>
    authorizationFromProto(msg, options),
  );
}

/**
 * Encodes a workload or service as an `istio.workload.Address`.
 *
 * @param resource - The model.
 * @returns The encoded message.
 * @example
 * ```ts
 * decodeAddress(encodeAddress(workload)); // Ok(workload-equivalent model)
 * ```
 */
export function encodeAddress(resource: AddressResource): Uint8Array {
  // Written directly (address-encoder.ts), byte for byte what `toBinary` writes for `addressToProto`.
  return writeAddressResource(resource);
}

/**
 * The `istio.workload.Address` message of a workload or service.
 *
 * @param resource - The model.
 * @returns The message.
 * @example
 * ```ts
 * toBinary(AddressSchema, addressToProto(workload)); // the bytes encodeAddress(workload) gives
 * ```
 */
export function addressToProto(resource: AddressResource): AddressProto {
  return {
    $typeName: 'istio.workload.Address',
    type:
      resource.kind === 'workload'
        ? { case: 'workload', value: workloadToProto(resource) }
        : { case: 'service', value: serviceToProto(resource) },
  };
}

/**
 * Encodes a policy as an `istio.security.Authorization`.
 *
 * @param policy - The model.
 * @returns The encoded message.
 * @example
 * ```ts
 * decodeAuthorization(encodeAuthorization(policy));
 * ```
 */
export function encodeAuthorization(policy: Authorization): Uint8Array {
  return toBinary(AuthorizationSchema, authorizationToProto(policy));
}

/**
 * Decodes the body of an xDS resource by its type URL.
 *
 * @param typeUrl - {@link ADDRESS_TYPE_URL} or {@link AUTHORIZATION_TYPE_URL}.
 * @param bytes - The `Any.value` bytes.
 * @param options - Size cap and string interner.
 * @returns The model, or `WORKLOAD_API_ERR_WRONG_TYPE` for any other type URL.
 * @example
 * ```ts
 * decodeResource(ADDRESS_TYPE_URL, resource.value); // resource: the `Any` of a DeltaDiscoveryResponse
 * ```
 */
export function decodeResource(
  typeUrl: string,
  bytes: Uint8Array,
  options?: DecodeOptions,
): Result<AddressResource | Authorization, WorkloadApiError> {
  if (typeUrl === ADDRESS_TYPE_URL) return decodeAddress(bytes, options);
  if (typeUrl === AUTHORIZATION_TYPE_URL) return decodeAuthorization(bytes, options);
  return err(new WorkloadApiError('WORKLOAD_API_ERR_WRONG_TYPE', `unsupported resource type ${typeUrl}`));
}
