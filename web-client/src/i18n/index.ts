/** The app's words: one catalogue (catalogue.ts, German and English side by side per key) and one
 * function `t`. German is the default; a choice of English is remembered in localStorage (a language
 * preference is not secret and must be known before the profile is unlocked). Dates and numbers go
 * through Intl with the active language, never by hand.
 *
 * Other screens add their words by appending entries to catalogue.ts, or by adding a file of the same
 * shape to the `Catalogue` type below and to `addWords` in the chunk that shows them. Keys are checked
 * at compile time.
 *
 * The words of the screens behind the PIN (screens/words.ts) are not in the first chunk: they come
 * with the unlocked app's chunk (shell.tsx calls `addWords`), so a first screen does not wait for
 * words it never shows. The first screens' words (invite, unlock, progress, problems) are all in
 * catalogue.ts. */
import { useEffect, useState } from 'preact/hooks';
import { words } from './catalogue.js';
import type { screenWords } from '../screens/words.js';

export type Lang = 'de' | 'en';
export const LANGS: readonly Lang[] = ['de', 'en'];

export interface Entry {
  de: string;
  en: string;
}

type Catalogue = typeof words & typeof screenWords;
export type MessageKey = keyof Catalogue;

const catalogue: Partial<Record<MessageKey, Entry>> = { ...words };

/** Adds the words a lazily loaded part of the app brings along. */
export function addWords(more: Partial<Record<MessageKey, Entry>>): void {
  Object.assign(catalogue, more);
}

const STORAGE_KEY = 'agora-lang';
const listeners = new Set<() => void>();

function initialLang(): Lang {
  try {
    const stored = globalThis.localStorage?.getItem(STORAGE_KEY);
    if (stored === 'de' || stored === 'en') return stored;
  } catch {
    // Storage can be blocked (private mode, policy): German then, as for everyone else.
  }
  return 'de';
}

let lang: Lang = initialLang();
applyDocumentLang();

function applyDocumentLang(): void {
  // Setting the attribute, even to the value index.html already has, makes the browser recompute
  // the page's styles: at the start, before the first screen, that is time a slow phone notices.
  if (typeof document !== 'undefined' && document.documentElement.lang !== lang) document.documentElement.lang = lang;
}

export function currentLang(): Lang {
  return lang;
}

export function setLang(next: Lang): void {
  if (next === lang) return;
  lang = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // Not remembered across visits then; the switch still applies now.
  }
  applyDocumentLang();
  for (const l of listeners) l();
}

export type Params = Record<string, string | number>;

/** The text for `key` in the active language, with `{name}` placeholders filled from `params`
 * (numbers formatted for the language). */
export function t(key: MessageKey, params?: Params): string {
  const entry = catalogue[key];
  // Only a screen shown before its chunk (and so its words) arrived gets here: a bug to see at once.
  if (!entry) throw new Error(`no words for ${key} yet: the chunk that brings them has not loaded`);
  const text = entry[lang];
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const v = params[name];
    if (v === undefined) return whole;
    return typeof v === 'number' ? formatNumber(v) : v;
  });
}

/** Picks `${base}.one` or `${base}.other` by the language's plural rules, with `{n}` set to `n`. */
export function tn(base: string, n: number, params?: Params): string {
  const rule = cached('plural', {}, () => new Intl.PluralRules(lang)).select(n) === 'one' ? 'one' : 'other';
  const key = `${base}.${rule}`;
  if (!(key in catalogue)) throw new Error(`missing plural entry ${key}`);
  return t(key as MessageKey, { n, ...params });
}

/** Intl formatters by language and options. Making one costs about as much as drawing a message
 * (the locale data is looked up each time), and a conversation formats two times per message on
 * every render, so they are made once and reused. */
const formatters = new Map<string, Intl.DateTimeFormat | Intl.NumberFormat | Intl.PluralRules>();

function cached<T extends Intl.DateTimeFormat | Intl.NumberFormat | Intl.PluralRules>(kind: string, options: object, make: () => T): T {
  const key = `${lang}\u0000${kind}\u0000${JSON.stringify(options)}`;
  let f = formatters.get(key) as T | undefined;
  if (!f) formatters.set(key, (f = make()));
  return f;
}

function dateFormat(options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  return cached('date', options, () => new Intl.DateTimeFormat(lang, options));
}

export function formatNumber(n: number): string {
  return cached('number', {}, () => new Intl.NumberFormat(lang)).format(n);
}

/** Time of day for today's messages, otherwise date and time. */
export function formatMessageTime(at: number, now = Date.now()): string {
  const d = new Date(at);
  const sameDay = new Date(now).toDateString() === d.toDateString();
  return dateFormat(sameDay ? { hour: '2-digit', minute: '2-digit' } : { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }).format(d);
}

/** A day heading in a conversation: "Heute", "Gestern", else the date. */
export function formatDay(at: number, now = Date.now()): string {
  const day = (ms: number) => new Date(ms).toDateString();
  if (day(at) === day(now)) return t('msg.today');
  if (day(at) === day(now - 86_400_000)) return t('msg.yesterday');
  return dateFormat({ weekday: 'long', day: 'numeric', month: 'long', year: new Date(at).getFullYear() === new Date(now).getFullYear() ? undefined : 'numeric' }).format(new Date(at));
}

export function formatDateTime(at: number): string {
  return dateFormat({ dateStyle: 'medium', timeStyle: 'short' }).format(new Date(at));
}

/** Calls `listener` after every change of language; returns the function that stops it. */
export function onLangChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => {
    listeners.delete(listener);
  };
}

/** Re-renders the calling component when the language changes; returns the active language. */
export function useLang(): Lang {
  const [, setTick] = useState(0);
  useEffect(() => onLangChange(() => setTick((n) => n + 1)), []);
  return lang;
}
