import { describe, expect, it } from 'vitest';
import { DOCX_TYPE, makeDocx } from '../../../test/support/docx.js';
import { DocumentError } from '../errors.js';
import { readDocument } from '../read-document.js';
import { detectFormat } from './index.js';

describe('the DOCX reader', () => {
  it('reads the paragraphs of a Word document, declared or sniffed', async () => {
    const bytes = await makeDocx(['Quarterly report', 'Revenue grew by 4 % & costs fell.']);
    expect(detectFormat(DOCX_TYPE, bytes)).toBe('docx');
    expect(detectFormat('application/octet-stream', bytes)).toBe('docx');
    const doc = await readDocument({ bytes, mimeType: DOCX_TYPE });
    expect(doc).toEqual({
      format: 'docx',
      text: 'Quarterly report\n\nRevenue grew by 4 % & costs fell.',
    });
  });

  it('reports a broken file as corrupt', async () => {
    const bytes = (await makeDocx(['x'])).subarray(0, 60);
    const error = await readDocument({ bytes, mimeType: DOCX_TYPE }).catch((e: unknown) => e);
    expect(DocumentError.isInstance(error, 'corrupt')).toBe(true);
    expect((error as Error).message).toMatch(/^could not read the DOCX document: /);
  });
});
