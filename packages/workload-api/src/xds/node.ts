/**
 * The xDS `Node` ztunnel sends (istio/ztunnel@62d82653:src/xds/client.rs `Config::node`, src/config.rs).
 * @module
 */
import { create, type JsonObject, type JsonValue } from '@bufbuild/protobuf';
import { type Node, NodeSchema } from '../gen/envoy/config/core/v3/base_pb.js';

/** What identifies a ztunnel to istiod. Each field's default is ztunnel's when the variable is unset. */
export interface ZtunnelNodeOptions {
  /** Env `INSTANCE_IP`; default `1.1.1.1` (ztunnel `DEFAULT_IP`). Also sent as metadata `INSTANCE_IPS`. */
  readonly instanceIp?: string;
  /** Env `POD_NAME`; default empty. Metadata `NAME`. */
  readonly podName?: string;
  /** Env `POD_NAMESPACE`; default empty. Metadata `NAMESPACE`. */
  readonly podNamespace?: string;
  /** Env `NODE_NAME`; default empty. Metadata `NODE_NAME`. */
  readonly nodeName?: string;
  /** Proxy metadata (ztunnel: mesh config `proxyMetadata` plus `ISTIO_META_*` env with the prefix cut). */
  readonly proxyMetadata?: Readonly<Record<string, string>>;
  /** Extra JSON metadata (ztunnel: each `ISTIO_METAJSON_<KEY>` env, parsed). */
  readonly metadataJson?: Readonly<Record<string, JsonValue>>;
}

/**
 * Builds the node ztunnel sends on every initial delta request: id
 * `ztunnel~<ip>~<pod>.<ns>~<ns>.svc.cluster.local`, string metadata `NAME`, `NAMESPACE`, `INSTANCE_IPS`,
 * `NODE_NAME`, then the proxy metadata, then the JSON metadata.
 *
 * @param options - The pod's identity and metadata.
 * @returns The `envoy.config.core.v3.Node`.
 * @example
 * ```ts
 * ztunnelNode({ instanceIp: '10.0.0.7', podName: 'ztunnel-abc', podNamespace: 'istio-system', nodeName: 'node-a' }).id;
 * // 'ztunnel~10.0.0.7~ztunnel-abc.istio-system~istio-system.svc.cluster.local'
 * ```
 */
export function ztunnelNode(options: ZtunnelNodeOptions = {}): Node {
  const ip = options.instanceIp ?? '1.1.1.1';
  const pod = options.podName ?? '';
  const ns = options.podNamespace ?? '';
  const metadata: JsonObject = {
    NAME: pod,
    NAMESPACE: ns,
    INSTANCE_IPS: ip,
    NODE_NAME: options.nodeName ?? '',
    ...options.proxyMetadata,
    ...options.metadataJson,
  };
  return create(NodeSchema, {
    id: `ztunnel~${ip}~${pod}.${ns}~${ns}.svc.cluster.local`,
    // protobuf-es represents a google.protobuf.Struct field as a plain JSON object.
    metadata,
  });
}

/**
 * {@link ztunnelNode} from the environment ztunnel reads: `INSTANCE_IP`, `POD_NAME`, `POD_NAMESPACE`,
 * `NODE_NAME`, `ISTIO_META_*` (prefix removed) and `ISTIO_METAJSON_*` (parsed; unparsable ones skipped).
 *
 * @param env - Default `process.env`.
 * @returns The node.
 * @example
 * ```ts
 * createXdsClient({ address: 'istiod.istio-system.svc:15010', store, node: ztunnelNodeFromEnv() });
 * ```
 */
export function ztunnelNodeFromEnv(env: Readonly<Record<string, string | undefined>> = process.env): Node {
  const proxyMetadata: Record<string, string> = {};
  const metadataJson: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) continue;
    if (k.startsWith('ISTIO_METAJSON_')) {
      try {
        metadataJson[k.slice('ISTIO_METAJSON_'.length)] = JSON.parse(v) as JsonValue;
      } catch {
        // ztunnel logs and skips a value that is not JSON.
      }
    } else if (k.startsWith('ISTIO_META_')) {
      proxyMetadata[k.slice('ISTIO_META_'.length)] = v;
    }
  }
  const { INSTANCE_IP, POD_NAME, POD_NAMESPACE, NODE_NAME } = env;
  return ztunnelNode({
    ...(INSTANCE_IP === undefined ? {} : { instanceIp: INSTANCE_IP }),
    ...(POD_NAME === undefined ? {} : { podName: POD_NAME }),
    ...(POD_NAMESPACE === undefined ? {} : { podNamespace: POD_NAMESPACE }),
    ...(NODE_NAME === undefined ? {} : { nodeName: NODE_NAME }),
    proxyMetadata,
    metadataJson,
  });
}
