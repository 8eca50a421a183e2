import { Readability } from '@mozilla/readability';
import { convert, type HtmlToTextOptions } from 'html-to-text';
import { parseHTML } from 'linkedom';
import type { FormatReader, ParsedDocument } from '../types.js';
import { decodeText, latin1, tidy } from './decode.js';

/**
 * HTML → title and readable text: Readability on linkedom for the article, html-to-text for
 * the markup. Both get slow or fail on deep nesting, which real pages never have but hostile
 * ones do: Readability takes ~1 s at 400 levels and ~10 s at 1,000, html-to-text recurses per
 * level and overflows the stack. So past `ARTICLE_MAX_DEPTH` the whole page is converted
 * without Readability, and past `MARKUP_MAX_DEPTH` its text is read straight off the DOM
 * (linkedom walks it iteratively). linkedom itself is quadratic in depth (100,000 levels: tens
 * of seconds); the parser process's time cap ends that.
 */

const ARTICLE_MAX_DEPTH = 256;
const MARKUP_MAX_DEPTH = 1_000;

const TEXT_OPTIONS: HtmlToTextOptions = {
  wordwrap: false,
  selectors: [
    { selector: 'a', options: { ignoreHref: true } },
    { selector: 'img', format: 'skip' },
    { selector: 'nav', format: 'skip' },
    { selector: 'table', format: 'dataTable', options: { uppercaseHeaderCells: false } },
    ...(['h1', 'h2', 'h3', 'h4', 'h5', 'h6'] as const).map((selector) => ({
      selector,
      options: { uppercase: false },
    })),
  ],
};

const PAYWALL = /"isAccessibleForFree"\s*:\s*("?)false\1/i;

type LinkedDocument = ReturnType<typeof parseHTML>['document'];
type LinkedElement = NonNullable<LinkedDocument['documentElement']>;

/** The nesting depth of the DOM, counted up to `limit + 1`. */
function depthOf(root: LinkedElement, limit: number): number {
  let max = 0;
  const stack: [LinkedElement, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [element, depth] = stack.pop()!;
    if (depth > max) {
      max = depth;
      if (max > limit) return max;
    }
    for (const child of element.children) stack.push([child as LinkedElement, depth + 1]);
  }
  return max;
}

function textOffDom(document: LinkedDocument): string {
  for (const element of document.querySelectorAll('script,style,noscript,template,nav')) {
    element.remove();
  }
  return tidy((document.body?.textContent ?? '').replace(/[ \t\u00a0]+/g, ' '));
}

export function readHtml(html: string): Omit<ParsedDocument, 'format'> {
  const paywalled = PAYWALL.test(html) || undefined;
  const { document } = parseHTML(html);
  let title =
    document.title?.trim() ||
    document.querySelector('meta[property="og:title"]')?.getAttribute('content')?.trim() ||
    undefined;
  const depth = document.documentElement ? depthOf(document.documentElement, MARKUP_MAX_DEPTH) : 0;
  let text = '';
  if (depth <= ARTICLE_MAX_DEPTH) {
    let article: ReturnType<Readability['parse']> = null;
    try {
      article = new Readability(document as unknown as Document, { charThreshold: 200 }).parse();
    } catch {
      // Readability gives up on some markup; the whole page is converted below.
    }
    if (article?.content && (article.textContent ?? '').trim().length >= 200) {
      text = tidy(convert(article.content, TEXT_OPTIONS));
    }
    if (!title && article?.title) title = article.title.trim() || undefined;
  }
  if (!text) {
    text =
      depth <= MARKUP_MAX_DEPTH
        ? tidy(
            convert(html, {
              ...TEXT_OPTIONS,
              baseElements: { selectors: ['body'], returnDomByDefault: true },
            }),
          )
        : textOffDom(document);
  }
  return { ...(title ? { title } : {}), text, ...(paywalled ? { paywalled } : {}) };
}

export const htmlReader: FormatReader = {
  format: 'html',
  accepts: (mime) => mime === 'text/html' || mime === 'application/xhtml+xml',
  sniff(head) {
    const lead = latin1(head).trimStart().slice(0, 200).toLowerCase();
    return lead.startsWith('<!doctype html') || lead.startsWith('<html');
  },
  read: (input) => ({ format: 'html', ...readHtml(decodeText(input.bytes, input.mimeType, true)) }),
};
