/**
 * Compile time of the largest tenant schemas the limits accept (src/protocol/schema-limits.ts),
 * each compiled cold (a distinct schema every time, as a hostile tenant would send them).
 * Prints a Markdown table; writes nothing into the repository.
 *
 *   npx tsx bench/schema-compile.ts [--runs 25]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { compileTenantSchema } from '../src/protocol/schema-compile.js';
import { newSchemaBudget } from '../src/protocol/schema-limits.js';
import { summarize } from './support/stats.js';

const { values: argv } = parseArgs({ options: { runs: { type: 'string', default: '25' } } });
const runs = Number(argv.runs);

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Each builder makes a distinct schema per run (`r`), at the limits. */
const SHAPES: { name: string; build: (r: number) => object }[] = [
  {
    name: '195 string properties, no additional properties',
    build: (r) => ({
      type: 'object',
      properties: Object.fromEntries(range(195).map((i) => [`p${r}_${i}`, { type: 'string' }])),
      required: [`p${r}_0`],
      additionalProperties: false,
    }),
  },
  {
    name: '75 properties of mixed types (integer minimum, nullable enums)',
    build: (r) => ({
      type: 'object',
      properties: Object.fromEntries(
        range(75).map((i) => [
          `p${r}_${i}`,
          i % 2 ? { type: 'integer', minimum: i } : { type: ['string', 'null'], enum: ['a', null] },
        ]),
      ),
    }),
  },
  {
    name: 'anyOf of nested objects, 30 levels deep',
    build: (r) => {
      let schema: object = { type: 'string', const: `leaf${r}` };
      for (let d = 0; d < 7; d++) {
        schema = {
          anyOf: [{ type: 'object', properties: { [`k${d}`]: schema } }, { type: 'null' }],
        };
      }
      return schema;
    },
  },
  {
    name: 'enum of 390 strings',
    build: (r) => ({ type: 'string', enum: range(390).map((i) => `v${r}_${i}`) }),
  },
  {
    name: '1 pattern of ~990 steps and 39 small ones (the pattern budgets)',
    build: (r) => ({
      type: 'object',
      properties: Object.fromEntries(
        range(40).map((i) => [
          `p${i}`,
          { type: 'string', pattern: i < 1 ? `^${r}[a-z${i}]{990}$` : `^${r}-${i}[0-9]+$` },
        ]),
      ),
    }),
  },
  {
    name: '$defs: 75 recursive definitions referring to each other',
    build: (r) => ({
      $defs: Object.fromEntries(
        range(75).map((i) => [
          `d${i}`,
          { type: 'object', properties: { [`n${r}`]: { $ref: `#/$defs/d${(i + 1) % 75}` } } },
        ]),
      ),
      $ref: '#/$defs/d0',
    }),
  },
];

// Warm-up: every shape a few times first, so no shape pays for the JIT compiling Ajv's own code.
let serial = 0;
for (const shape of SHAPES) {
  for (let i = 0; i < 10; i++)
    compileTenantSchema(shape.build(serial++), 'schema', newSchemaBudget());
}

console.log(`| accepted schema (at the limits) | min | p50 | max | compiles |`);
console.log(`| --- | ---: | ---: | ---: | ---: |`);
for (const shape of SHAPES) {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const schema = shape.build(serial++);
    const started = performance.now();
    compileTenantSchema(schema, 'schema', newSchemaBudget());
    times.push(performance.now() - started);
  }
  const s = summarize(times);
  const min = Math.min(...times);
  console.log(
    `| ${shape.name} | ${min.toFixed(1)} ms | ${s.p50.toFixed(1)} ms | ${s.max.toFixed(1)} ms | ${runs} |`,
  );
}
