/**
 * `metadata_filter` of the `file_search` tool: Google's filter syntax (AIP-160, which the SDK's
 * `FileSearch.metadataFilter` points to) over a document's `customMetadata`, parsed into the
 * `MetadataFilter` tree that the search index evaluates in SQL.
 *
 * Grammar (the AIP-160 subset that means something for key/value metadata):
 *
 *   filter      = [expression]
 *   expression  = factor { "AND" factor }              AND binds loosest …
 *   factor      = term { "OR" term }                   … OR tighter, as AIP-160 says:
 *   term        = ["NOT"] simple                       `a AND b OR c` is `a AND (b OR c)`
 *   simple      = "(" expression ")" | restriction
 *   restriction = key comparator value                 comparator: = != < <= > >= :
 *   key         = word | string                        `author`, `doc.year`, "my key"
 *   value       = number | string | word               2020, -1.5, "Robert Graves", drama
 *
 * Keywords are upper case (AIP-160). Strings take "…" or '…' with the escapes \\ \" \' \n \r \t.
 * A bare word that reads as a number is a number, otherwise a string. `key : value` is the
 * AIP-160 "has" (membership in a `stringListValue`); `=` also matches a list that contains the
 * value. Juxtaposition (AIP-160's implicit AND), functions, `-` negation and wildcards are not
 * supported and get a 400 that says where.
 *
 * Hand-written (a small recursive-descent parser) because the npm packages for AIP-160 filters
 * are unmaintained or tied to one ORM, and none reports errors by position nor bounds the size
 * and depth of what a tenant string may build, which this one must: the tree becomes SQL.
 */
import { invalid } from '../protocol/errors.js';
import type { MetadataFilter } from '../store/search-index/types.js';

/** Bounds on what one filter may build (a tenant string must not blow the stack or the query). */
export const METADATA_FILTER_LIMITS = {
  /** Characters. */
  maxLength: 2_000,
  /** Nested parentheses and NOTs. */
  maxDepth: 10,
  /** Restrictions (`key op value`). */
  maxRestrictions: 50,
} as const;

type Comparator = '=' | '!=' | '<' | '<=' | '>' | '>=' | ':';

type Token =
  | { kind: '(' | ')' | 'end'; at: number }
  | { kind: 'comparator'; value: Comparator; at: number }
  | { kind: 'string'; value: string; at: number }
  | { kind: 'word'; value: string; at: number };

const KEYWORDS = new Set(['AND', 'OR', 'NOT']);
const NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
/** Characters that end a bare word. */
const DELIMITERS = new Set([' ', '\t', '\n', '\r', '(', ')', '=', '!', '<', '>', ':', '"', "'"]);
const ESCAPES: Record<string, string> = {
  '\\': '\\',
  '"': '"',
  "'": "'",
  n: '\n',
  r: '\r',
  t: '\t',
};

class FilterSyntaxError extends Error {}

/** Positions in messages are 1-based character columns of the filter string. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const at = i + 1;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '(' || c === ')') {
      tokens.push({ kind: c, at });
      i++;
    } else if (c === '=' || c === ':') {
      tokens.push({ kind: 'comparator', value: c, at });
      i++;
    } else if (c === '<' || c === '>' || c === '!') {
      const withEquals = text[i + 1] === '=';
      if (c === '!' && !withEquals) throw new FilterSyntaxError(`unexpected '!' at ${at}`);
      tokens.push({ kind: 'comparator', value: (withEquals ? `${c}=` : c) as Comparator, at });
      i += withEquals ? 2 : 1;
    } else if (c === '"' || c === "'") {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new FilterSyntaxError(`unterminated string starting at ${at}`);
        const d = text[i]!;
        if (d === c) break;
        if (d === '\\') {
          const escaped = ESCAPES[text[i + 1] ?? ''];
          if (escaped === undefined) {
            throw new FilterSyntaxError(
              i + 1 >= text.length
                ? `unterminated string starting at ${at}`
                : `unknown escape '\\${text[i + 1]}' at ${i + 1}`,
            );
          }
          value += escaped;
          i += 2;
        } else {
          value += d;
          i++;
        }
      }
      i++;
      tokens.push({ kind: 'string', value, at });
    } else {
      const start = i;
      while (i < text.length && !DELIMITERS.has(text[i]!)) i++;
      tokens.push({ kind: 'word', value: text.slice(start, i), at });
    }
  }
  tokens.push({ kind: 'end', at: text.length + 1 });
  return tokens;
}

function describeToken(token: Token): string {
  switch (token.kind) {
    case 'end':
      return 'end of filter';
    case 'string':
      return `string at ${token.at}`;
    case 'word':
    case 'comparator':
      return `'${token.value}' at ${token.at}`;
    default:
      return `'${token.kind}' at ${token.at}`;
  }
}

class Parser {
  private index = 0;
  private depth = 0;
  private restrictions = 0;

  constructor(private readonly tokens: Token[]) {}

  parse(): MetadataFilter | undefined {
    if (this.peek().kind === 'end') return undefined;
    const filter = this.expression();
    const next = this.peek();
    if (next.kind === ')') throw new FilterSyntaxError(`unexpected ')' at ${next.at}`);
    if (next.kind !== 'end') {
      const hint =
        next.kind === 'word' && KEYWORDS.has(next.value.toUpperCase())
          ? ' (AND, OR and NOT are upper case)'
          : '';
      throw new FilterSyntaxError(`expected AND or OR before ${describeToken(next)}${hint}`);
    }
    return filter;
  }

  private peek(): Token {
    return this.tokens[this.index]!;
  }

  private next(): Token {
    return this.tokens[this.index++]!;
  }

  private isKeyword(word: string): boolean {
    const token = this.peek();
    return token.kind === 'word' && token.value === word;
  }

  private expression(): MetadataFilter {
    const args = [this.factor()];
    while (this.isKeyword('AND')) {
      this.next();
      args.push(this.factor());
    }
    return args.length === 1 ? args[0]! : { op: 'and', args };
  }

  private factor(): MetadataFilter {
    const args = [this.term()];
    while (this.isKeyword('OR')) {
      this.next();
      args.push(this.term());
    }
    return args.length === 1 ? args[0]! : { op: 'or', args };
  }

  private term(): MetadataFilter {
    if (!this.isKeyword('NOT')) return this.simple();
    const not = this.next();
    return { op: 'not', arg: this.nested(not.at, () => this.simple()) };
  }

  private simple(): MetadataFilter {
    const token = this.peek();
    if (token.kind !== '(') return this.restriction();
    this.next();
    const inner = this.nested(token.at, () => this.expression());
    const close = this.next();
    if (close.kind !== ')') {
      throw new FilterSyntaxError(
        `expected ')' to close '(' at ${token.at}, found ${describeToken(close)}`,
      );
    }
    return inner;
  }

  private nested(at: number, parse: () => MetadataFilter): MetadataFilter {
    if (++this.depth > METADATA_FILTER_LIMITS.maxDepth) {
      throw new FilterSyntaxError(
        `nested deeper than ${METADATA_FILTER_LIMITS.maxDepth} levels at ${at}`,
      );
    }
    const result = parse();
    this.depth--;
    return result;
  }

  private restriction(): MetadataFilter {
    const keyToken = this.next();
    let key: string;
    if (keyToken.kind === 'string') key = keyToken.value;
    else if (keyToken.kind === 'word' && !KEYWORDS.has(keyToken.value)) key = keyToken.value;
    else throw new FilterSyntaxError(`expected a metadata key, found ${describeToken(keyToken)}`);
    if (key === '') throw new FilterSyntaxError(`empty metadata key at ${keyToken.at}`);

    const comparator = this.next();
    if (comparator.kind !== 'comparator') {
      throw new FilterSyntaxError(
        `expected a comparator (=, !=, <, <=, >, >=, :) after the key at ${keyToken.at}, found ${describeToken(comparator)}`,
      );
    }
    const value = this.value(comparator);
    if (++this.restrictions > METADATA_FILTER_LIMITS.maxRestrictions) {
      throw new FilterSyntaxError(
        `more than ${METADATA_FILTER_LIMITS.maxRestrictions} comparisons (at ${keyToken.at})`,
      );
    }
    if (comparator.value === ':') return { op: 'has', key, values: [value] };
    return { op: 'compare', key, comparator: comparator.value, value };
  }

  private value(after: Token): string | number {
    const token = this.next();
    if (token.kind === 'string') return token.value;
    if (token.kind === 'word' && !KEYWORDS.has(token.value)) {
      if (!NUMBER.test(token.value)) return token.value;
      const number = Number(token.value);
      if (!Number.isFinite(number)) {
        throw new FilterSyntaxError(`number out of range at ${token.at}`);
      }
      return number;
    }
    throw new FilterSyntaxError(
      `expected a value after ${describeToken(after)}, found ${describeToken(token)}`,
    );
  }
}

/**
 * Parses a `metadata_filter`. An empty or blank filter is no filter (`undefined`). Errors are
 * `ApiError` 400s whose message starts with `path` (e.g. `tools[0].metadata_filter`).
 */
export function parseMetadataFilter(text: string, path: string): MetadataFilter | undefined {
  if (text.length > METADATA_FILTER_LIMITS.maxLength) {
    throw invalid(
      `${path}: longer than ${METADATA_FILTER_LIMITS.maxLength} characters (${text.length})`,
    );
  }
  try {
    return new Parser(tokenize(text)).parse();
  } catch (err) {
    if (err instanceof FilterSyntaxError) throw invalid(`${path}: ${err.message}`);
    throw err;
  }
}
