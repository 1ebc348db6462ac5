/** Text from elsewhere (a relay's answer, a name in its directory) as part of one output line:
 * control and bidi characters become spaces, so nothing can forge further lines, a tab-separated
 * column or a restyled terminal. */
export function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]+/g, ' ').trim();
}
