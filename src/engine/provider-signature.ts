import type { SharedV3ProviderMetadata } from '@ai-sdk/provider';

/**
 * Some providers sign their reasoning (Anthropic's thinking-block signature) and refuse a
 * follow-up turn that does not send it back. The `signature` of a thought step is opaque to
 * clients (spec §4.5), so it carries that provider metadata: `oi1.` + base64url(JSON). Steps the
 * server signed itself (HMAC) or other strings simply decode to nothing.
 */
const PREFIX = 'oi1.';

/**
 * A thought shown without a summary (`thinking_summaries: none`) still has to be replayed with its
 * reasoning text (a provider checks its signature against it), so that text rides in this
 * namespace of the encoded metadata; it is never passed on to a provider.
 */
const REASONING_KEY = 'open-interactions';

export function encodeProviderSignature(
  metadata: SharedV3ProviderMetadata,
  reasoning?: string,
): string {
  const value = reasoning ? { ...metadata, [REASONING_KEY]: { reasoning } } : metadata;
  return PREFIX + Buffer.from(JSON.stringify(value)).toString('base64url');
}

export interface DecodedSignature {
  providerOptions?: SharedV3ProviderMetadata;
  /** The reasoning text, when the thought step has no summary that carries it. */
  reasoning?: string;
}

export function decodeProviderSignature(signature: string | undefined): DecodedSignature {
  if (!signature?.startsWith(PREFIX)) return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(signature.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    return {};
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
  const { [REASONING_KEY]: ours, ...providerOptions } = value as SharedV3ProviderMetadata;
  const reasoning = ours?.reasoning;
  return {
    ...(Object.keys(providerOptions).length > 0 ? { providerOptions } : {}),
    ...(typeof reasoning === 'string' ? { reasoning } : {}),
  };
}

/** Merges provider metadata of several stream parts (e.g. the signature arrives in the last delta). */
export function mergeProviderMetadata(
  into: SharedV3ProviderMetadata | undefined,
  from: SharedV3ProviderMetadata | undefined,
): SharedV3ProviderMetadata | undefined {
  if (!from) return into;
  const out: SharedV3ProviderMetadata = { ...into };
  for (const [provider, values] of Object.entries(from))
    out[provider] = { ...out[provider], ...values };
  return out;
}
