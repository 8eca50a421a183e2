/**
 * The hostile battery of issue 9, one attack at a time, each against a fresh server process:
 * how long was the server's event loop blocked (the longest /healthz round trip while the attack
 * ran), did a second tenant keep being served, did the process survive, how much memory did it
 * take. Prints a Markdown table to stdout (progress to stderr).
 *
 *   npx tsx bench/hostile.ts [--only SUBSTRING] [--cap SECONDS]
 *
 * `--cap` bounds one attack (default 120 s); an attack still running then is reported as such
 * and its server is killed.
 */
import { parseArgs } from 'node:util';
import {
  ATTACKS,
  startBystander,
  startHealthProbe,
  startHostileEnvironment,
  type AttackOutcome,
} from '../test/support/hostile-battery.js';

const { values: argv } = parseArgs({
  options: { only: { type: 'string' }, cap: { type: 'string', default: '120' } },
});
const capMs = Number(argv.cap) * 1000;
const log = (msg: string) => process.stderr.write(`[hostile] ${msg}\n`);

interface Row {
  attack: string;
  maxDelayMs: number;
  probeFailures: number;
  bystander: number;
  alive: boolean | undefined;
  rssBeforeMb: number;
  rssAfterMb: number;
  peakMb: number;
  outcome: string;
}

const rows: Row[] = [];
for (const attack of ATTACKS.filter((a) => !argv.only || a.name.includes(argv.only))) {
  log(`${attack.name}: starting a server`);
  const env = await startHostileEnvironment();
  // Let start-up work (tool pools, first compile) settle before measuring.
  await new Promise((r) => setTimeout(r, 2_000));
  const before = env.memory();
  const probe = startHealthProbe(env.baseUrl);
  const bystander = startBystander(env);
  const t0 = Date.now();
  let outcome: AttackOutcome | 'capped' | Error;
  try {
    outcome = await Promise.race([
      attack.run(env),
      new Promise<'capped'>((r) => setTimeout(() => r('capped'), capMs).unref()),
    ]);
  } catch (err) {
    outcome = err as Error;
  }
  const elapsed = Date.now() - t0;
  // A capped attack may still hold the event loop: its server is not asked, only killed.
  const alive = outcome === 'capped' ? undefined : await env.alive();
  const after = alive ? env.memory() : { rssMb: NaN, peakMb: NaN };
  // A server still busy with the attack would keep the probe waiting: end it first.
  if (alive !== true) env.server.process.kill('SIGKILL');
  const [health, by] = await Promise.all([probe.stop(), bystander.stop()]);
  const described =
    outcome === 'capped'
      ? `still running after ${capMs / 1000} s`
      : outcome instanceof Error
        ? `client error: ${outcome.message}`
        : `HTTP ${outcome.httpStatus}${outcome.interactionStatus ? ` ${outcome.interactionStatus}` : ''}${outcome.errorCode ? ` (${outcome.errorCode})` : ''} ${outcome.detail}`;
  rows.push({
    attack: attack.name,
    maxDelayMs: health.maxMs,
    probeFailures: health.failures,
    bystander: by.completed,
    alive,
    rssBeforeMb: before.rssMb,
    rssAfterMb: after.rssMb,
    peakMb: after.peakMb,
    outcome: described.replace(/\|/g, '/').replace(/\s+/g, ' ').slice(0, 220),
  });
  log(`${attack.name}: ${(elapsed / 1000).toFixed(1)} s, max delay ${health.maxMs.toFixed(0)} ms`);
  await env.close();
}

const mb = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '—');
console.log(
  '| attack | max /healthz wait | /healthz failures | tenant B completed | server alive | RSS before → after (peak), MB | what the attacker got |',
);
console.log('|---|---:|---:|---:|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.attack} | ${Number.isFinite(r.maxDelayMs) ? `${(r.maxDelayMs / 1000).toFixed(2)} s` : '—'} | ${r.probeFailures} | ${r.bystander} | ${r.alive === undefined ? 'busy at the cap' : r.alive ? 'yes' : '**no**'} | ${mb(r.rssBeforeMb)} → ${mb(r.rssAfterMb)} (${mb(r.peakMb)}) | ${r.outcome} |`,
  );
}
