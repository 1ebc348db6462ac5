import { describe, expect, it } from '@jest/globals';
import { LIMITS } from './limits.js';
import { Name, nameKey, nameProblem, sameName } from './names.js';

describe('nameProblem', () => {
  it.each([
    ['U+202A left-to-right embedding', '\u202a'], ['U+202B', '\u202b'], ['U+202C', '\u202c'], ['U+202D', '\u202d'],
    ['U+202E right-to-left override', '\u202e'], ['U+2066', '\u2066'], ['U+2067', '\u2067'], ['U+2068', '\u2068'],
    ['U+2069', '\u2069'], ['U+200E', '\u200e'], ['U+200F', '\u200f'], ['U+061C', '\u061c'],
    ['U+200B zero-width space', '\u200b'], ['U+200C', '\u200c'], ['U+200D', '\u200d'], ['U+2060', '\u2060'],
    ['U+FEFF', '\ufeff'], ['U+00AD soft hyphen', '\u00ad'], ['U+180E', '\u180e'], ['U+3164 Hangul filler', '\u3164'],
    ['U+115F', '\u115f'], ['U+2028', '\u2028'], ['U+0000', '\u0000'], ['U+001B escape', '\u001b'], ['U+0085', '\u0085'],
    ['a lone surrogate', '\ud800'], ['private use U+E000', '\ue000'],
  ])('refuses %s', (_what, ch) => {
    expect(nameProblem(`Ben${ch}Weber`)).toBeDefined();
    expect(Name.safeParse(`Ben${ch}Weber`).success).toBe(false);
  });

  it.each(['Ben Weber', 'Anna Müller-Lüdenscheidt', 'Zoë O’Brien', '张伟', 'محمد علي', 'Bau & Verkehr (Süd)', 'Ben\u00a0Weber'])('accepts %s', (name) => {
    expect(nameProblem(name)).toBeUndefined();
    expect(Name.parse(name)).toBe(name);
  });

  it('refuses U+FEFF even at the edge, where trimming would drop it unseen', () => {
    expect(Name.safeParse('\ufeffBen Weber').success).toBe(false);
  });

  it('trims and bounds the length', () => {
    expect(Name.parse('  Ben Weber ')).toBe('Ben Weber');
    expect(Name.safeParse('   ').success).toBe(false);
    expect(Name.safeParse('x'.repeat(LIMITS.nameChars)).success).toBe(true);
    expect(Name.safeParse('x'.repeat(LIMITS.nameChars + 1)).success).toBe(false);
  });
});

describe('nameKey', () => {
  it.each([
    ['Bauamt', 'bauamt'],
    ['Bauamt', ' BAUAMT '],
    ['Café', 'Cafe\u0301'], // NFC and NFD
    ['Ben Weber', 'Ben  Weber'],
    ['Ben Weber', 'Ben\u00a0Weber'],
    ['Straße', 'STRASSE'],
    ['Ben', 'Ｂｅｎ'], // full-width forms
  ])('%s and %s are one name', (a, b) => {
    expect(nameKey(a)).toBe(nameKey(b));
    expect(sameName(a, b)).toBe(true);
  });

  it.each([['Ben Weber', 'Ben Webber'], ['Bauamt', 'Bauamt Süd'], ['Müller', 'Muller']])('%s and %s differ', (a, b) => {
    expect(sameName(a, b)).toBe(false);
  });
});
