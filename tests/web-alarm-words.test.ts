/** The web app says every key-transparency alarm in words (web-client/src/screens/alarm-words.ts):
 * each kind the SDK raises has its own explanation, and the person named in a key-substitution
 * alarm is found in the SDK's message. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { alarmWords } from '../web-client/src/screens/alarm-words.js';
import { ROOT } from './helpers.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return name.endsWith('.ts') && !name.endsWith('.test.ts') ? [full] : [];
  });
}

describe('alarm words', () => {
  it('has words of its own for every alarm kind the SDK raises', () => {
    const kinds = new Set<string>();
    for (const file of sources(path.join(ROOT, 'client-sdk/src'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\b(?:alarm|fail)\(\s*'([a-z_]+)'/g)) kinds.add(m[1]);
      // kinds chosen by a condition: `const kind = … ? 'a' : 'b';` ahead of an alarm(kind, …)
      for (const m of text.matchAll(/const kind = [^;]*\?\s*'([a-z_]+)'\s*:\s*'([a-z_]+)'\s*;/g)) {
        kinds.add(m[1]);
        kinds.add(m[2]);
      }
    }
    expect(kinds.size).toBeGreaterThan(10);
    expect([...kinds]).toEqual(expect.arrayContaining(['forged_checkpoint', 'rollback', 'key_substitution']));
    const missing = [...kinds].filter((k) => alarmWords(k).what === 'alarm.other');
    expect(missing).toEqual([]);
  });

  it('falls back to general words for a kind it does not know', () => {
    expect(alarmWords('something_new')).toEqual({ what: 'alarm.other', todo: 'alarm.todo.officer' });
  });
});
