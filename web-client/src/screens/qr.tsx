/** A QR code drawn as SVG elements from uqr's module matrix: no markup string is ever parsed (the
 * encoded text may come from anyone), no data: URL is needed under the app's Content-Security-Policy,
 * and it prints sharply at any size. The code is black on white with a 4-module quiet zone whatever
 * the app's theme, so a phone's camera reads it. */
import { encode } from 'uqr';
import { useMemo } from 'preact/hooks';

const QUIET = 4;

export function QrCode({ text, label, className }: { text: string; label: string; className?: string }) {
  const { size, d } = useMemo(() => {
    const qr = encode(text, { ecc: 'M', border: 0 });
    let path = '';
    qr.data.forEach((row, y) => {
      // One horizontal run per stretch of dark modules keeps the path short.
      let x = 0;
      while (x < row.length) {
        if (!row[x]) {
          x++;
          continue;
        }
        const start = x;
        while (x < row.length && row[x]) x++;
        path += `M${start + QUIET} ${y + QUIET}h${x - start}v1h${start - x}z`;
      }
    });
    return { size: qr.size + 2 * QUIET, d: path };
  }, [text]);
  return (
    <svg class={className ? `qr ${className}` : 'qr'} viewBox={`0 0 ${size} ${size}`} role="img" aria-label={label} shape-rendering="crispEdges">
      <rect width={size} height={size} fill="#fff" />
      <path d={d} fill="#000" />
    </svg>
  );
}
