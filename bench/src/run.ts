import { newcomerSection, DEFAULT_NEWCOMER } from './newcomer.js';
import { printSection } from './report.js';
const t = performance.now();
printSection(await newcomerSection({ ...DEFAULT_NEWCOMER, devices: Number(process.env.N ?? 1000) }));
console.log('total s', (performance.now() - t) / 1000);
