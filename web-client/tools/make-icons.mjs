// Draws the app's PNG icons into public/icons/ (run once with `node tools/make-icons.mjs`; the
// PNGs are committed, so the build never depends on this script or on an image tool): a white "A"
// on the theme blue, as a rounded square (any purpose) and as a full-bleed square whose drawing
// stays inside the central safe circle (maskable).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateSync } from 'node:zlib';

const THEME = [0x1d, 0x4f, 0x91];
const WHITE = [0xff, 0xff, 0xff];
const out = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'public', 'icons');

const CRC = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}
function png(size, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) rgba.copy(raw, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function segDist(px, py, [ax, ay, bx, by]) {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}
// The letter as three strokes in a unit square.
const STROKES = [[0.27, 0.8, 0.5, 0.2], [0.5, 0.2, 0.73, 0.8], [0.36, 0.6, 0.64, 0.6]];
const STROKE = 0.1;

function draw(size, { maskable }) {
  const rgba = Buffer.alloc(size * size * 4);
  const scale = maskable ? 0.62 : 0.8; // maskable: inside the central 80 % circle
  const radius = maskable ? 0 : 0.18;
  const S = 4; // supersampling per axis
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let bg = 0;
      let fg = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          const u = (x + (sx + 0.5) / S) / size;
          const v = (y + (sy + 0.5) / S) / size;
          const cx = Math.min(Math.max(u, radius), 1 - radius);
          const cy = Math.min(Math.max(v, radius), 1 - radius);
          if (Math.hypot(u - cx, v - cy) > radius) continue;
          bg++;
          const gu = (u - 0.5) / scale + 0.5;
          const gv = (v - 0.5) / scale + 0.5;
          if (STROKES.some((s) => segDist(gu, gv, s) < STROKE / 2)) fg++;
        }
      }
      const i = (y * size + x) * 4;
      const a = bg / (S * S);
      const f = bg ? fg / bg : 0;
      for (let c = 0; c < 3; c++) rgba[i + c] = Math.round(THEME[c] * (1 - f) + WHITE[c] * f);
      rgba[i + 3] = Math.round(a * 255);
    }
  }
  return png(size, rgba);
}

mkdirSync(out, { recursive: true });
for (const [name, size, maskable] of [['icon-192.png', 192, false], ['icon-512.png', 512, false], ['icon-maskable-512.png', 512, true], ['apple-touch-icon.png', 180, true]]) {
  writeFileSync(path.join(out, name), draw(size, { maskable }));
}
