/** Bundled into the page by idb-contract.test.ts: the ClientStore contract's cases over the
 * browser's own IndexedDB, one case per call so each reports as its own test. */
import { CLIENT_STORE_CASES, indexedDbHarness, runContractCase } from '../../client-sdk/src/store/contract.js';
import { browserIndexedDbEnv } from '../../client-sdk/src/store/indexeddb-store.js';

export interface CaseOutcome {
  error?: string;
  logs: string[];
  ms: number;
}

let run = 0;
async function runCase(name: string): Promise<CaseOutcome> {
  const c = CLIENT_STORE_CASES.find((x) => x.name === name);
  if (!c) return { error: `no contract case named "${name}"`, logs: [], ms: 0 };
  const logs: string[] = [];
  const started = performance.now();
  try {
    await runContractCase(c, async () => indexedDbHarness(browserIndexedDbEnv(), `agora-contract-${++run}`), (line) => logs.push(line));
    return { logs, ms: performance.now() - started };
  } catch (error) {
    return { error: error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error), logs, ms: performance.now() - started };
  }
}

(globalThis as { agoraContract?: unknown }).agoraContract = { names: CLIENT_STORE_CASES.map((c) => c.name), run: runCase };
