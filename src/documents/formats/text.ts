import type { FormatReader } from '../types.js';
import { decodeText } from './decode.js';

const TEXT_TYPES = new Set([
  'application/xml',
  'application/javascript',
  'application/x-yaml',
  'application/yaml',
]);

/** Mostly printable, no NUL: text whatever its type says. */
function looksLikeText(head: Uint8Array): boolean {
  if (head.length === 0) return true;
  let control = 0;
  for (const byte of head) {
    if (byte === 0) return false;
    if (byte < 9 || (byte > 13 && byte < 32)) control++;
  }
  return control / head.length < 0.02;
}

export const textReader: FormatReader = {
  format: 'text',
  accepts: (mime) => mime.startsWith('text/') || mime.endsWith('+xml') || TEXT_TYPES.has(mime),
  sniff: looksLikeText,
  read: (input) => ({ format: 'text', text: decodeText(input.bytes, input.mimeType).trim() }),
};
