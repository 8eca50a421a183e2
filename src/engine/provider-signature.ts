import type { SharedV3ProviderMetadata } from '@ai-sdk/provider';

/**
 * Some providers sign their reasoning (Anthropic's thinking-block signature) and refuse a
 * follow-up turn that does not send it back. The `signature` of a thought step is opaque to
 * clients (spec §4.5), so it carries that provider metadata: `oi1.` + base64url(JSON). Steps the
 * server signed itself (HMAC) or other strings simply decode to nothing.
 */
const PREFIX = 'oi1.';

export function encodeProviderSignature(metadata: SharedV3ProviderMetadata): string {
  return PREFIX + Buffer.from(JSON.stringify(metadata)).toString('base64url');
}

export function decodeProviderSignature(
  signature: string | undefined,
): SharedV3ProviderMetadata | undefined {
  if (!signature?.startsWith(PREFIX)) return undefined;
  try {
    const value = JSON.parse(
      Buffer.from(signature.slice(PREFIX.length), 'base64url').toString('utf8'),
    ) as unknown;
    if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
    return value as SharedV3ProviderMetadata;
  } catch {
    return undefined;
  }
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
