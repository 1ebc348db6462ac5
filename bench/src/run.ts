/** `npm run bench`: runs the measurements the performance and key-transparency issues ask for, prints them and
 * writes docs/performance.md. `BENCH_ONLY=a,c` runs some sections and then leaves the document
 * alone, so a partial run never replaces a complete one. */
import { writeFile } from 'node:fs/promises';
import { loadCryptoProvider } from '@agora/protocol/crypto/provider';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientEngineSection } from './client-engine.js';
import { cryptoSection } from './crypto-section.js';
import { cryptoProvidersSection } from './crypto-providers.js';
import { removeAllTempDirsNow } from './devices.js';
import { fanoutSection } from './fanout.js';
import { ktSection } from './kt-bench.js';
import { newcomerSection } from './newcomer.js';
import { webAppSection } from './web-app.js';
import { machineFacts, markdownReport, printSection, type Section } from './report.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OUT = path.join(ROOT, 'docs/performance.md');

const SECTIONS: { key: string; name: string; run: () => Promise<Section> }[] = [
  { key: 'a', name: 'relay fan-out', run: () => fanoutSection() },
  { key: 'b', name: 'client crypto', run: () => cryptoSection() },
  { key: 'c', name: 'newcomer in an organisation of 1,000', run: () => newcomerSection() },
  { key: 'd', name: 'key transparency', run: () => ktSection() },
  { key: 'e', name: 'client engine on the Node driver', run: () => clientEngineSection() },
  { key: 'f', name: 'web app in Chromium', run: () => webAppSection() },
  { key: 'g', name: 'crypto provider: libsodium vs noble', run: () => cryptoProvidersSection() },
];

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    // Worker threads die with the process; temporary databases and profiles would not.
    removeAllTempDirsNow();
    process.exit(130);
  });
}

async function main(): Promise<void> {
  // The key-transparency code is synchronous over the loaded crypto provider, as in the product.
  await loadCryptoProvider();
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const chosen = only ? SECTIONS.filter((s) => only.includes(s.key)) : SECTIONS;
  if (chosen.length === 0) throw new Error(`BENCH_ONLY=${process.env.BENCH_ONLY} names no section (${SECTIONS.map((s) => s.key).join(', ')})`);
  const machine = machineFacts();
  const loadBefore = os.loadavg()[0];
  console.log(`Agora bench — ${machine.date}; ${machine.nproc} cores (${machine.cpu}), Node ${machine.node}; 1-min load average ${loadBefore.toFixed(2)}`);
  const started = performance.now();
  const sections: Section[] = [];
  for (const s of chosen) {
    const t = performance.now();
    console.log(`\n… ${s.name}`);
    const section = await s.run();
    console.log(`  (${((performance.now() - t) / 1000).toFixed(0)} s)`);
    printSection(section);
    sections.push(section);
  }
  const wallSeconds = (performance.now() - started) / 1000;
  const loadAfter = os.loadavg()[0];
  console.log(`\nWhole run: ${wallSeconds.toFixed(0)} s; 1-min load average ${loadAfter.toFixed(2)}.`);
  if (only) {
    console.log(`BENCH_ONLY is set: ${path.relative(ROOT, OUT)} left unchanged.`);
    return;
  }
  const intro = [
    `The performance issue's three measurements, the key-transparency issue's benchmark (d) and the client engine's costs per operation (e), all taken in one run of \`npm run bench\` on the machine above; every comparison is a ratio of two numbers measured in that same run. The load generator, the clients and the servers all run on this one machine, with the server in a worker thread of its own so that on ${machine.nproc} cores it gets one core and the clients the other.`,
    `The 1-minute load average was ${loadBefore.toFixed(2)} when the run started and ${loadAfter.toFixed(2)} when it ended. This machine is shared (other work may run beside the bench) and its virtual disk's fsync latency varies, so absolute numbers move between runs by tens of percent; the fan-out comparison therefore alternates the servers in several rounds and reports medians.`,
  ];
  await writeFile(OUT, markdownReport({ machine, sections, wallSeconds, intro }));
  console.log(`Wrote ${path.relative(ROOT, OUT)}.`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : String(e));
  removeAllTempDirsNow();
  process.exitCode = 1;
});
