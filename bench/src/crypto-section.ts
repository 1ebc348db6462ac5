/** (b) Client crypto: Agora's per-record sealing and its MLS group operations (our provider and
 * ts-mls's default), beside Signal's sender keys on the same workload. */
import { measureRecordCrypto } from '../../client-sdk/dist/crypto/measure.js';
import { runMlsBench, type Row } from './mls-bench.js';
import { measureSenderKeys } from './sender-keys.js';
import { num, type Section, type Table } from './report.js';

export interface CryptoOptions {
  sizes: number[];
  /** Records sealed and opened, and sender-key messages encrypted and decrypted. */
  messages: number;
  /** Characters of the text in each record. */
  textChars: number;
  /** Pairwise sessions over which one sender-key re-key is measured, and how many re-keys. */
  rekeyRecipients: number;
  rekeyRounds: number;
}

export const DEFAULT_CRYPTO: CryptoOptions = { sizes: [10, 100, 1000], messages: 3000, textChars: 200, rekeyRecipients: 50, rekeyRounds: 5 };

const us = (x: number) => `${num(x)} µs`;
const ms = (x: number) => `${num(x)} ms`;

/** Human-readable durations from milliseconds. */
function dur(msValue: number): string {
  if (msValue >= 60_000) return `${num(msValue / 60_000)} min`;
  if (msValue >= 1000) return `${num(msValue / 1000)} s`;
  return ms(msValue);
}

function bytesText(b: number): string {
  if (b >= 1e9) return `${num(b / 1e9)} GB`;
  if (b >= 1e6) return `${num(b / 1e6)} MB`;
  if (b >= 1e3) return `${num(b / 1e3)} kB`;
  return `${Math.round(b)} B`;
}

export async function cryptoSection(opts: CryptoOptions = DEFAULT_CRYPTO): Promise<Section> {
  const record = await measureRecordCrypto(opts.messages, opts.textChars);
  // The sender-key messages carry as many plaintext bytes as a record's ciphertext does inside
  // its AEAD (base64url → bytes, minus XChaCha20-Poly1305's 24-byte nonce and 16-byte tag).
  const recordBytes = Math.floor((record.ciphertextChars * 3) / 4);
  const innerBytes = recordBytes - 40;
  const sk = await measureSenderKeys({ messages: opts.messages, plaintextBytes: innerBytes, recipients: opts.rekeyRecipients, rounds: opts.rekeyRounds });
  const mls = await runMlsBench({ sizes: opts.sizes });
  const get = (name: string): Row => {
    const r = mls.find((x) => x.name === name);
    if (!r) throw new Error(`mls bench gave no row ${name}`);
    return r;
  };

  const perMessage: Table = {
    caption: `Per message (${opts.textChars}-character text, ${opts.messages.toLocaleString('en-US')} messages, one after the other)`,
    headers: ['', 'encrypt', 'decrypt', 'ciphertext', 'encrypt + decrypt vs sender keys'],
    rows: [
      ['Agora record (sealRecord / openRecord: Ed25519 signature + XChaCha20-Poly1305, libsodium)', us(record.sealUs), us(record.openUs), `${recordBytes} B`, `${((record.sealUs + record.openUs) / (sk.encryptUs + sk.decryptUs)).toFixed(2)}×`],
      [`Signal sender keys (groupEncrypt / groupDecrypt, ${sk.plaintextBytes} B plaintext)`, us(sk.encryptUs), us(sk.decryptUs), `${sk.ciphertextBytes} B`, '1.00×'],
    ],
  };

  const ops: [string, string][] = [
    ['add-create', 'add one device: create commit + Welcome'],
    ['add-process', 'add one device: a member processes the commit'],
    ['join-welcome', 'added device joins from the Welcome'],
    ['remove-create', 'remove one device: create commit'],
    ['remove-process', 'remove one device: a member processes the commit'],
    ['update-create', 'update commit (post-compromise security): create, owner set sealed'],
    ['update-process', 'update commit: a member processes it and opens the owner set'],
    ['export-content-key', 'export the epoch content key (decode state + exporter)'],
  ];
  const mlsTable: Table = {
    caption: 'MLS group operations (ms; Agora provider vs ts-mls defaultCryptoProvider)',
    headers: ['operation', ...opts.sizes.flatMap((n) => [`n=${n} agora`, `n=${n} default`, `n=${n} speed-up`])],
    rows: ops.map(([op, label]) => [
      label,
      ...opts.sizes.flatMap((n) => {
        const a = get(`mls/${op}/n${n}/agora`).value;
        const d = get(`mls/${op}/n${n}/default`).value;
        return [num(a), num(d), `${(d / a).toFixed(1)}×`];
      }),
    ]),
  };
  const mlsFacts: Table = {
    caption: 'MLS group facts',
    headers: ['', ...opts.sizes.map((n) => `n=${n}`)],
    rows: [
      ['HPKE encryptions in one removal\'s UpdatePath', ...opts.sizes.map((n) => String(get(`mls/remove-hpke-seals/n${n}`).value))],
      ['populated parent nodes', ...opts.sizes.map((n) => `${get(`mls/populated-parents/n${n}`).value} (${get(`mls/populated-parents/n${n}`).note?.replace(/ parent nodes.*/, '')})`)],
      ['removal commit size', ...opts.sizes.map((n) => bytesText((get(`mls/remove-commit-size/n${n}`).value * 3) / 4))],
      ['update commit size', ...opts.sizes.map((n) => bytesText((get(`mls/update-commit-size/n${n}`).value * 3) / 4))],
      ['membership check per commit (commitment from tree + salt, 1 Ed25519 verify), ms', ...opts.sizes.map((n) => num(get(`mls/membership-check/n${n}/agora`).value))],
      ['Welcome size (adding one device)', ...opts.sizes.map((n) => bytesText((get(`mls/welcome-size/n${n}`).value * 3) / 4))],
      ['one member\'s stored group state', ...opts.sizes.map((n) => bytesText(get(`mls/state-size/n${n}`).value))],
      ['building the bench group (not a product operation)', ...opts.sizes.map((n) => `${num(get(`mls/build/n${n}`).value)} s`)],
    ],
  };

  const perPair = sk.pairEncryptUs + sk.pairDecryptUs + sk.skdmProcessUs;
  const removal: Table = {
    caption: 'Removing one device from a group of n',
    headers: ['', ...opts.sizes.map((n) => `n=${n}`)],
    rows: [
      ['MLS: relay fans out (n−1 copies of one commit)', ...opts.sizes.map((n) => `${(n - 1).toLocaleString('en-US')} msgs, ${bytesText((n - 1) * ((get(`mls/remove-commit-size/n${n}`).value * 3) / 4))}`)],
      ['MLS: committer creates the commit', ...opts.sizes.map((n) => ms(get(`mls/remove-create/n${n}/agora`).value))],
      ['MLS: each remaining member processes it', ...opts.sizes.map((n) => ms(get(`mls/remove-process/n${n}/agora`).value))],
      ['MLS: CPU summed over the group (create + (n−2) × process)', ...opts.sizes.map((n) => dur(get(`mls/remove-create/n${n}/agora`).value + (n - 2) * get(`mls/remove-process/n${n}/agora`).value))],
      ['sender keys: relay fans out ((n−1)(n−2) pairwise messages)', ...opts.sizes.map((n) => `${((n - 1) * (n - 2)).toLocaleString('en-US')} msgs, ${bytesText((n - 1) * (n - 2) * sk.pairCiphertextBytes)}`)],
      ['sender keys: each remaining device (1 new key, n−2 sends, n−2 receives)', ...opts.sizes.map((n) => dur((sk.skdmCreateUs + (n - 2) * perPair) / 1000))],
      ['sender keys: CPU summed over the group ((n−1) × that)', ...opts.sizes.map((n) => dur(((n - 1) * (sk.skdmCreateUs + (n - 2) * perPair)) / 1000))],
      ['relay messages, sender keys ÷ MLS', ...opts.sizes.map((n) => `${(n - 2).toLocaleString('en-US')}×`)],
      ['per-device time, sender keys ÷ MLS member', ...opts.sizes.map((n) => `${((sk.skdmCreateUs + (n - 2) * perPair) / 1000 / get(`mls/remove-process/n${n}/agora`).value).toFixed(2)}×`)],
    ],
  };
  const rekeyPieces: Table = {
    caption: `Sender-key re-key pieces (libsignal, median of ${opts.rekeyRounds} re-keys over ${opts.rekeyRecipients} established pairwise sessions)`,
    headers: ['piece', 'time', 'size'],
    rows: [
      ["create a new sender key's SenderKeyDistributionMessage (once per member)", us(sk.skdmCreateUs), `${sk.skdmBytes} B`],
      ['encrypt it for one member over the pairwise session (signalEncrypt)', us(sk.pairEncryptUs), `${sk.pairCiphertextBytes} B`],
      ['that member decrypts it (signalDecrypt)', us(sk.pairDecryptUs), ''],
      ['that member processes it (processSenderKeyDistributionMessage)', us(sk.skdmProcessUs), ''],
      ['per pairwise distribution message, all three', us(perPair), ''],
    ],
  };

  const n0 = opts.sizes[opts.sizes.length - 1];
  return {
    title: '(b) Client crypto: records, MLS and Signal\'s sender keys',
    findings: [
      `Per message, an Agora record costs ${us(record.sealUs)} to seal and ${us(record.openUs)} to open, against ${us(sk.encryptUs)} and ${us(sk.decryptUs)} for a libsignal sender-key message carrying the same number of bytes.`,
      `Removing one device from a group of ${n0.toLocaleString('en-US')}: MLS sends one ${bytesText((get(`mls/remove-commit-size/n${n0}`).value * 3) / 4)} commit to ${(n0 - 1).toLocaleString('en-US')} devices, created in ${ms(get(`mls/remove-create/n${n0}/agora`).value)} and processed by each member in ${ms(get(`mls/remove-process/n${n0}/agora`).value)}; with sender keys the relay must carry ${((n0 - 1) * (n0 - 2)).toLocaleString('en-US')} pairwise messages and each remaining device spends ≈ ${dur((sk.skdmCreateUs + (n0 - 2) * perPair) / 1000)} (estimate from the measured pieces).`,
    ],
    how: [
      `Records: \`measureRecordCrypto\` from the SDK seals ${opts.messages.toLocaleString('en-US')} distinct records (a ${opts.textChars}-character text with the full record header: ids, epoch, counter, timestamp) with \`sealRecord\` (canonical encoding, Ed25519 signature, padding, XChaCha20-Poly1305, base64url) and opens each once with \`openRecord\` (decode, decrypt, validate, verify), after 50 warm-up pairs; the mean per call is shown. The ciphertext column is the record's size in bytes before base64url; records are padded to a power of two, so this text fills ${recordBytes.toLocaleString('en-US')} bytes.`,
      `Sender keys: \`@signalapp/libsignal-client\` (the native Node library Signal Desktop uses; a dev-dependency used only here) with in-memory stores that keep sessions serialised, as an app's database does. Alice creates a sender key and Bob processes its SenderKeyDistributionMessage; then ${opts.messages.toLocaleString('en-US')} messages of ${sk.plaintextBytes} random bytes — as many bytes as an Agora record encrypts — are encrypted with \`groupEncrypt\` and decrypted by Bob with \`groupDecrypt\` (each sender-key message is signed, like a record), after 50 warm-up pairs.`,
      `Sender-key removal: when a member leaves, every remaining member must stop using its sender key, create a new one and send its SenderKeyDistributionMessage to each of the other n−2 remaining members over their pairwise Signal session, so the relay carries (n−1)(n−2) messages. The bench sets up ${opts.rekeyRecipients} real pairwise sessions (pre-key bundles with Kyber pre-keys, \`processPreKeyBundle\`, one message each way) and measures, over ${opts.rekeyRounds} re-keys after one warm-up, creating the distribution message, \`signalEncrypt\` of it per member, and per member \`signalDecrypt\` and \`processSenderKeyDistributionMessage\`; every re-key is checked by decrypting a message under the new key at every member. The per-device and per-group totals are estimates from those pieces: per remaining device = create + (n−2) × (encrypt + decrypt + process), since it sends to and receives from each of the n−2 others; per group = (n−1) × per device. They leave out the transport of ~n² messages, which at n = ${n0.toLocaleString('en-US')} dominates in practice.`,
      `MLS: \`runMlsBench\` (bench/src/mls-bench.ts) builds a group of n devices with a populated ratchet tree and measures, through the SDK's own MLS functions, creating and processing a commit that adds one device, joining from its Welcome, creating and processing a commit that removes one device, creating and processing an update commit (with the sealed owner set every commit carries), a member's membership check of a commit (commitment from its tree and the exporter salt, one Ed25519 verification), and exporting the content key — with Agora's crypto provider and with ts-mls's \`defaultCryptoProvider\`, median of several runs (one run for the default provider at n = 1,000), each result checked (all parties derive the same content key). Its module comment describes how the group is built.`,
    ],
    tables: [perMessage, removal, rekeyPieces, mlsTable, mlsFacts],
  };
}
