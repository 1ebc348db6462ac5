/** The persisted record format is frozen: the JSON Schema of every record type is compared with the
 * snapshot committed for the current RECORDS_VERSION. A change to a stored shape (also one that
 * comes from a shared type in core/state.ts) fails here until it is made a new version, with a
 * reader for profiles of the old one. */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { RECORD_SCHEMAS, RECORDS_VERSION } from './records.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const snapshotFile = (v: number) => path.join(HERE, `records.schema.v${v}.json`);

function currentSchema(): string {
  const records = Object.fromEntries(Object.entries(RECORD_SCHEMAS).map(([name, schema]) => [name, z.toJSONSchema(schema, { io: 'input' })]));
  return JSON.stringify({ recordsVersion: RECORDS_VERSION, records }, null, 2) + '\n';
}

describe('persisted profile records', () => {
  it(`match the frozen schema of records version ${RECORDS_VERSION}`, () => {
    const file = snapshotFile(RECORDS_VERSION);
    const now = currentSchema();
    if (!existsSync(file) && process.env.AGORA_WRITE_RECORDS_SCHEMA === '1') writeFileSync(file, now);
    if (!existsSync(file)) {
      throw new Error(`no frozen schema for records version ${RECORDS_VERSION}: write it once with AGORA_WRITE_RECORDS_SCHEMA=1 and commit ${path.basename(file)}`);
    }
    const frozen = readFileSync(file, 'utf8');
    if (frozen !== now) {
      throw new Error(
        `the stored profile format changed (${path.basename(file)} no longer matches client-sdk/src/state/records.ts and core/state.ts). ` +
          'Profiles on disk are in the frozen format: bump RECORDS_VERSION, read the old version (or migrate it) in records.ts, ' +
          'and write the new snapshot with AGORA_WRITE_RECORDS_SCHEMA=1. Do not edit the old snapshot (unless only a zod ' +
          'upgrade changed how the same shapes are rendered: then check that and write it again).',
      );
    }
    expect(JSON.parse(frozen)).toEqual(JSON.parse(now));
  });

  it('keeps the snapshots of earlier versions', () => {
    for (let v = 1; v <= RECORDS_VERSION; v++) expect(existsSync(snapshotFile(v))).toBe(true);
  });
});
