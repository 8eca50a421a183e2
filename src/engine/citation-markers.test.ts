import { describe, expect, it } from 'vitest';
import { CitationMarkerFilter, type CitationMark } from './citation-markers.js';

/** Runs the filter over the deltas; returns the clean text and the marks. */
function filter(deltas: readonly string[]): { text: string; marks: CitationMark[] } {
  const f = new CitationMarkerFilter();
  let text = '';
  for (const d of deltas) text += f.push(d);
  text += f.end();
  expect(f.text).toBe(text);
  return { text, marks: f.marks };
}

/** Every way of cutting `input` into two deltas, and one delta per character. */
function splits(input: string): string[][] {
  const chars = [...input];
  const out: string[][] = [chars];
  for (let i = 0; i <= chars.length; i++)
    out.push([chars.slice(0, i).join(''), chars.slice(i).join('')]);
  return out;
}

const CASES: [string, string, [number, number][]][] = [
  // input, clean text, [source, offset] of each mark
  ['Mount Elbrus is the highest [1].', 'Mount Elbrus is the highest.', [[1, 27]]],
  [
    'Spain won [1][2]. It was the fourth [12].',
    'Spain won. It was the fourth.',
    [
      [1, 9],
      [2, 9],
      [12, 28],
    ],
  ],
  [
    'Europe [1] and Asia [2, 3].',
    'Europe and Asia.',
    [
      [1, 6],
      [2, 15],
      [3, 15],
    ],
  ],
  [
    'Europe [1] [2] is big',
    'Europe is big',
    [
      [1, 6],
      [2, 6],
    ],
  ],
  [
    'No space[1]and a word [4]after.',
    'No spaceand a word after.',
    [
      [1, 8],
      [4, 18],
    ],
  ],
  [
    'Done.[1] Next [2]\nLine two [3]',
    'Done. Next\nLine two',
    [
      [1, 5],
      [2, 10],
      [3, 19],
    ],
  ],
  [
    '[1] Opens the text.\n  [2] indented',
    'Opens the text.\n  indented',
    [
      [1, 0],
      [2, 18],
    ],
  ],
  ['Größe ✓ [1].', 'Größe ✓.', [[1, 7]]],
  ['Trailing [5]', 'Trailing', [[5, 8]]],
  ['Tabs\t[1]; then', 'Tabs; then', [[1, 4]]],
];

const UNCHANGED = [
  'arrays: xs[0] and [0]',
  'ranges [1-2] and [a] and [1234] and [ 1] and [1,] and [01]',
  'an open bracket at the end [',
  'a partial marker at the end [12',
  'a link [1](https://example.org/a) stays',
  'a reference link [Spain][1] stays',
  '[1]: https://example.org/ref\n[2]: https://example.org/two',
  'nested [[x]] and [[]]',
  'hard line break  \nnext line',
  'trailing blanks   ',
  'Use `xs[1]` and ``a`[2]`b`` here',
  '```python\nprint(xs[1])\n  ys = [1]\n```',
  '````\n```\n[3]\n```\n````',
];

describe('CitationMarkerFilter', () => {
  it.each(CASES)('removes the markers of %j however it is split', (input, clean, marks) => {
    for (const deltas of splits(input)) {
      const out = filter(deltas);
      expect(out.text, JSON.stringify(deltas)).toBe(clean);
      expect(out.marks.map((m) => [m.source, m.offset])).toEqual(marks);
    }
  });

  it.each(UNCHANGED)('leaves %j unchanged however it is split', (input) => {
    for (const deltas of splits(input)) {
      const out = filter(deltas);
      expect(out.text, JSON.stringify(deltas)).toBe(input);
      expect(out.marks).toEqual([]);
    }
  });

  it('removes markers after code and keeps them inside it', () => {
    const input = 'Call `f(xs[1])` first [1].\n```js\nconst a = b[2];\n```\nThen run it [2].';
    for (const deltas of splits(input)) {
      expect(filter(deltas).text).toBe(
        'Call `f(xs[1])` first.\n```js\nconst a = b[2];\n```\nThen run it.',
      );
    }
    // inline code ends at the line's end when it is not closed
    expect(filter(['an `open tick\nthen prose [1].']).text).toBe('an `open tick\nthen prose.');
  });

  it('emits at once everything that cannot be part of a marker', () => {
    const f = new CitationMarkerFilter();
    expect(f.push('Spain won')).toBe('Spain won');
    expect(f.push(' Euro [')).toBe(' Euro');
    expect(f.push('1')).toBe('');
    expect(f.push(']')).toBe('');
    expect(f.push('. Then [a')).toBe('. Then [a');
    expect(f.push('] and [2')).toBe('] and');
    expect(f.push('3')).toBe('');
    expect(f.end()).toBe(' [23');
    expect(f.text).toBe('Spain won Euro. Then [a] and [23');
    expect(f.marks).toEqual([{ source: 1, offset: 14 }]);
  });

  it('bounds what it holds back: a long bracketed list is text', () => {
    const f = new CitationMarkerFilter();
    const long = `[${'1, '.repeat(30)}`;
    expect(f.push(long)).toBe(long.slice(0, -1)); // only the trailing blank waits
    expect(f.push('1]')).toBe(' 1]');
    expect(f.marks).toEqual([]);
  });
});
