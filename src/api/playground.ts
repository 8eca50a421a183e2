/**
 * The playground page at `/` (public/playground/: plain HTML, CSS and an ES module, no build
 * step). The files are read once at start-up and served from memory, by a fixed list of names
 * (no path from the request reaches the file system). The page talks to this server's own API
 * with a key the user types in; the key stays in the browser.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

/**
 * public/playground/ of the package: two levels above this module in src/ and dist/; other
 * builds (a test's outDir) sit deeper, so look upwards. Undefined when the files are missing.
 */
function findDirectory(): URL | undefined {
  for (let depth = 2; depth <= 6; depth++) {
    const dir = new URL(`${'../'.repeat(depth)}public/playground/`, import.meta.url);
    if (existsSync(new URL('index.html', dir))) return dir;
  }
  return undefined;
}

const FILES = {
  'index.html': 'text/html; charset=utf-8',
  'playground.js': 'text/javascript; charset=utf-8',
  'playground.css': 'text/css; charset=utf-8',
} as const;

/** Scripts and styles only from this server; the page fetches only this server's API. */
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function playgroundRoutes(app: FastifyInstance): void {
  const directory = findDirectory();
  // A package without the page still serves the API (`/` is then 404).
  if (!directory) return;
  const files = Object.entries(FILES).map(([name, type]) => ({
    name,
    type,
    body: readFileSync(new URL(name, directory)),
  }));
  for (const file of files) {
    const paths = file.name === 'index.html' ? ['/', '/playground/'] : [`/playground/${file.name}`];
    for (const path of paths) {
      app.get(path, async (_request, reply) =>
        reply
          .type(file.type)
          .header('content-security-policy', CSP)
          .header('x-content-type-options', 'nosniff')
          .header('cache-control', 'no-cache')
          .send(file.body),
      );
    }
  }
}
