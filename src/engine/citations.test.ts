import { describe, expect, it } from 'vitest';
import { CitationMarkerFilter } from './citation-markers.js';
import { citationsFor, citedSpans } from './citations.js';

const SOURCES = [{ url: 'https://a.example/', title: 'A' }, { url: 'https://b.example/' }];

/** Cleans `raw` as the stream would and returns the clean text and its url_citations. */
function cite(raw: string, sources = SOURCES) {
  const filter = new CitationMarkerFilter();
  const text = filter.push(raw) + filter.end();
  return { text, annotations: citationsFor(text, filter.marks, sources) };
}

/** The cited text of each annotation (byte offsets into the UTF-8 text). */
const spans = (text: string, annotations: { start_index?: number; end_index?: number }[]) =>
  annotations.map((a) => Buffer.from(text).subarray(a.start_index, a.end_index).toString());

describe('citationsFor', () => {
  it('cites the sentence before each marker, without the marker, blanks and final punctuation', () => {
    const { text, annotations } = cite(
      'Spain won Euro 2024, beating England 2-1 [1]. It was their fourth title [2][1].',
    );
    expect(text).toBe('Spain won Euro 2024, beating England 2-1. It was their fourth title.');
    expect(annotations).toEqual([
      {
        type: 'url_citation',
        url: 'https://a.example/',
        title: 'A',
        start_index: 0,
        end_index: 40,
      },
      { type: 'url_citation', url: 'https://b.example/', start_index: 42, end_index: 67 },
      {
        type: 'url_citation',
        url: 'https://a.example/',
        title: 'A',
        start_index: 42,
        end_index: 67,
      },
    ]);
    expect(spans(text, annotations)).toEqual([
      'Spain won Euro 2024, beating England 2-1',
      'It was their fourth title',
      'It was their fourth title',
    ]);
  });

  it('counts bytes of the UTF-8 text, not characters', () => {
    const { text, annotations } = cite('Ünïcödé ✓ first. Größe 🏔 zweite [2].');
    expect(annotations).toMatchObject([{ start_index: 23, end_index: 42 }]);
    expect(spans(text, annotations)).toEqual(['Größe 🏔 zweite']);
  });

  it('keeps decimals, list bullets and line breaks in mind', () => {
    const { text, annotations } = cite(
      'Models:\n- GPT-5.5 Instant halves errors [1].\n1) Apple opens up [2]\nDone.[1] Next.',
    );
    expect(spans(text, annotations)).toEqual([
      'GPT-5.5 Instant halves errors',
      'Apple opens up',
      'Done',
    ]);
  });

  it('a second marker in one sentence cites the part after the first one (as Google splits)', () => {
    const { text, annotations } = cite(
      'OpenAI shipped voice models [1], and deployed GPT-5.5 Instant [2]; both on May 8 [1][2].',
    );
    expect(text).toBe('OpenAI shipped voice models, and deployed GPT-5.5 Instant; both on May 8.');
    expect(spans(text, annotations)).toEqual([
      'OpenAI shipped voice models',
      'and deployed GPT-5.5 Instant',
      'both on May 8',
      'both on May 8',
    ]);
  });

  it('a marker that opens a sentence cites the sentence after it', () => {
    const { text, annotations } = cite('[1] Elbrus is the highest. Next one.');
    expect(text).toBe('Elbrus is the highest. Next one.');
    expect(spans(text, annotations)).toEqual(['Elbrus is the highest']);
  });

  it('drops unknown source numbers and duplicates; no sources, no annotations', () => {
    const { text, annotations } = cite('One [3]. Two [1][1]. Three [0].');
    expect(text).toBe('One. Two. Three [0].');
    expect(spans(text, annotations)).toEqual(['Two']);
    expect(cite('Cited [1].', []).annotations).toEqual([]);
    expect(citedSpans('', [{ source: 1, offset: 0 }])).toEqual([undefined]);
    expect(citedSpans('Hi. ', [{ source: 1, offset: 4 }])).toEqual([
      { start_index: 0, end_index: 2 },
    ]);
    expect(citedSpans('...', [{ source: 1, offset: 3 }])).toEqual([undefined]);
  });

  it('cites a File Search passage with a file_citation (document, file name, passage, page, metadata)', () => {
    const passage = {
      url: 'fileSearchStores/s/documents/d',
      title: 'policies.pdf',
      file: {
        document_uri: 'fileSearchStores/s/documents/d',
        file_name: 'policies.pdf',
        source: 'Laptops are replaced every three years.',
        page_number: 2,
        custom_metadata: { team: 'it', year: 2024 },
      },
    };
    const { text, annotations } = cite('Laptops last three years [2]. Mixed [1].', [
      SOURCES[0]!,
      passage,
    ]);
    expect(text).toBe('Laptops last three years. Mixed.');
    expect(annotations).toEqual([
      {
        type: 'file_citation',
        document_uri: 'fileSearchStores/s/documents/d',
        file_name: 'policies.pdf',
        source: 'Laptops are replaced every three years.',
        page_number: 2,
        custom_metadata: { team: 'it', year: 2024 },
        start_index: 0,
        end_index: 24,
      },
      {
        type: 'url_citation',
        url: 'https://a.example/',
        title: 'A',
        start_index: 26,
        end_index: 31,
      },
    ]);
  });
});
