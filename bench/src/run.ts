import { fanoutSection, DEFAULT_FANOUT } from './fanout.js';
import { printSection } from './report.js';
const t = performance.now();
printSection(await fanoutSection({ ...DEFAULT_FANOUT, senderCounts: [1], measureMs: Number(process.env.MS ?? 3000) }));
console.log('total s', (performance.now() - t) / 1000);
