/**
 * JSON-schema `pattern`s are tenant input that we run against model output. JavaScript's RegExp
 * backtracks (`^(a+)+$` on 31 characters blocked the event loop for 26 s), so every pattern runs
 * in RE2 (the pure-JS port `re2js`), whose matching time is linear in the input. A pattern is
 * accepted only when it is valid ECMA-262 (what JSON Schema specifies) AND RE2 can express it with
 * the same meaning; backreferences and lookaround cannot be, and are refused with a reason.
 */
import type { CodeOptions } from 'ajv';
import { LRUCache } from 'lru-cache';
import { RE2JS } from 're2js';

type RegExpEngine = NonNullable<CodeOptions['regExp']>;
type RegExpLike = ReturnType<RegExpEngine>;

/** Longest pattern accepted, in characters. */
export const MAX_PATTERN_LENGTH = 1000;
/**
 * Largest estimated RE2 program of one pattern (see `estimatePatternSize`). RE2's own cap is
 * ~1.4 million instructions, whose compilation alone takes most of a second; 2,000 still allows
 * `[a-z]{1000}` or `\p{L}{1000}` and compiles in a few milliseconds.
 */
export const MAX_PATTERN_SIZE = 2000;

export class UnsupportedPatternError extends Error {}

/**
 * An upper bound of the RE2 program size of a (valid ECMA-262) pattern: every atom counts one,
 * a group counts its contents, and a counted repeat `{n,m}` multiplies what it repeats. Needed
 * because re2js only reports the size after compiling, and compiling is the expensive part
 * (`(?:<400 letters>){1000}` takes ~400 ms); no library offers the estimate, hence this scan.
 */
export function estimatePatternSize(pattern: string): number {
  const groups: number[] = [0];
  let last = 0;
  const atom = (size: number) => {
    groups[groups.length - 1]! += size;
    last = size;
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      // \p{…}, \u{…} and \x{…}: one atom however long the braces are.
      if (pattern[i + 1] === '{' && 'pPux'.includes(pattern[i] ?? '')) {
        i = Math.max(i, pattern.indexOf('}', i));
      }
      atom(1);
    } else if (c === '[') {
      for (i++; i < pattern.length && pattern[i] !== ']'; i++) if (pattern[i] === '\\') i++;
      atom(1);
    } else if (c === '(') {
      groups.push(0);
    } else if (c === ')') {
      const inner = groups.length > 1 ? groups.pop()! : 0;
      atom(inner + 1);
    } else if (c === '{') {
      const m = /^\{(\d+)(?:,(\d*))?\}/.exec(pattern.slice(i, i + 24));
      if (!m) {
        atom(1);
        continue;
      }
      const low = Number(m[1]);
      const high = m[2] === undefined ? low : m[2] === '' ? low + 1 : Number(m[2]);
      groups[groups.length - 1]! += last * (Math.max(low, high, 1) - 1) + 1;
      last *= Math.max(low, high, 1);
      i += m[0].length - 1;
    } else if (c === '*' || c === '+' || c === '?') {
      groups[groups.length - 1]! += 1;
    } else {
      atom(1);
    }
  }
  return groups.reduce((a, b) => a + b, 0);
}

/** Backreferences (`\1`, `\k<name>`): in a valid unicode-mode pattern these escapes mean nothing else. */
function hasBackreference(pattern: string): boolean {
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '\\') continue;
    const next = pattern[i + 1] ?? '';
    if (next === 'k' || (next >= '1' && next <= '9')) return true;
    i++;
  }
  return false;
}

function compile(pattern: string): RE2JS {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new UnsupportedPatternError(`longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  try {
    // Syntax check only: V8 compiles a RegExp lazily, on its first match, so nothing runs here.
    new RegExp(pattern, 'u');
  } catch (err) {
    throw new UnsupportedPatternError(
      `not a valid regular expression (${(err as Error).message.replace(/^Invalid regular expression: /, '')})`,
    );
  }
  if (hasBackreference(pattern)) {
    throw new UnsupportedPatternError(
      'backreferences are not supported (patterns run in a linear-time engine)',
    );
  }
  if (estimatePatternSize(pattern) > MAX_PATTERN_SIZE) {
    throw new UnsupportedPatternError(
      `too complex: its repetitions expand beyond ${MAX_PATTERN_SIZE} steps`,
    );
  }
  try {
    return RE2JS.compile(RE2JS.translateRegExp(pattern));
  } catch (err) {
    const reason = (err as Error).message.replace(/^error parsing regexp: /, '');
    throw new UnsupportedPatternError(
      /\(\?[=!<]|Perl syntax/.test(reason)
        ? `lookahead and lookbehind are not supported (patterns run in a linear-time engine): ${reason}`
        : `not supported by the linear-time engine: ${reason}`,
    );
  }
}

// Compiled patterns are pure functions of their text, so one cache serves every tenant.
const compiled = new LRUCache<string, RE2JS>({ max: 2000 });

/** A pattern compiled to RE2, ready for `test` (an unanchored search, as JSON Schema specifies). */
export function compilePattern(pattern: string): RegExpLike {
  let re = compiled.get(pattern);
  if (!re) {
    re = compile(pattern);
    compiled.set(pattern, re);
  }
  const engine = re;
  // Ajv tells patterns apart by `toString()` (it shares one compiled pattern per string).
  const like: RegExpLike = { test: (input: string) => engine.test(input) };
  return Object.assign(like, { toString: () => `/${pattern}/` });
}

/** Ajv's `code.regExp`: every `pattern` and `patternProperties` key runs in RE2. */
export const re2Engine: RegExpEngine = Object.assign((pattern: string) => compilePattern(pattern), {
  code: 'compilePattern',
});
