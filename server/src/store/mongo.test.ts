/** Runs the store contract against MongoDB when MONGODB_URI points at a replica set (transactions
 * need one; a single-node replica set is enough). Without it the suite reports as skipped. */
import { describe } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import { storeContract } from './contract.js';
import { openMongoStore } from './mongo.js';

const uri = process.env.MONGODB_URI;
const maybe = uri ? describe : describe.skip;

maybe('MongoDB store', () => {
  storeContract('mongodb', async () => {
    const dbName = `agora_test_${randomBytes(6).toString('hex')}`;
    const store = await openMongoStore(uri!, dbName);
    return {
      store,
      cleanup: async () => {
        const client = new MongoClient(uri!);
        try {
          await client.db(dbName).dropDatabase();
        } finally {
          await client.close();
        }
      },
    };
  });
});
