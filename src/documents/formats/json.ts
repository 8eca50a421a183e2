import type { FormatReader } from '../types.js';
import { decodeText, latin1 } from './decode.js';

/** JSON as sent, pretty-printed when it is compact and parses. */
function jsonToText(raw: string): string {
  const trimmed = raw.trim();
  if (trimmed.length < 200_000 && !trimmed.includes('\n')) {
    try {
      return JSON.stringify(JSON.parse(trimmed), null, 2);
    } catch {
      return trimmed;
    }
  }
  return trimmed;
}

export const jsonReader: FormatReader = {
  format: 'json',
  accepts: (mime) => mime === 'application/json' || mime.endsWith('+json'),
  sniff(head) {
    const lead = latin1(head).trimStart();
    return lead.startsWith('{') || lead.startsWith('[');
  },
  read: (input) => ({ format: 'json', text: jsonToText(decodeText(input.bytes, input.mimeType)) }),
};
