import type { FormatReader } from '../types.js';
import { latin1, tidy } from './decode.js';

const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

type Mammoth = typeof import('mammoth');
let mammothPromise: Promise<Mammoth> | undefined;
const loadMammoth = () => (mammothPromise ??= import('mammoth'));

/**
 * Word documents (.docx) → their text, paragraph by paragraph, with mammoth. It reads the ZIP in
 * memory and never follows links to external files (its `externalFileAccess` is off by default).
 */
export const docxReader: FormatReader = {
  format: 'docx',
  accepts: (mime) => mime === DOCX,
  // A ZIP whose first entries name Word's parts (what Word itself writes first).
  sniff: (head) => latin1(head.subarray(0, 4)) === 'PK\x03\x04' && latin1(head).includes('word/'),
  load: async () => {
    await loadMammoth();
  },
  async read(input) {
    const mammoth = await loadMammoth();
    const result = await mammoth.extractRawText({ buffer: Buffer.from(input.bytes) });
    return { format: 'docx', text: tidy(result.value) };
  },
};
