/** Icons as inline SVG (no icon font, no extra request). They are decoration: every icon stands
 * next to a word, so each is aria-hidden and never the only carrier of meaning. */
const PATHS = {
  home: 'M3 11.5 12 4l9 7.5V20a1 1 0 0 1-1 1h-5v-6H9v6H4a1 1 0 0 1-1-1z',
  groups: 'M8 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7zm8 0a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM1.5 20c0-3.6 2.9-6.5 6.5-6.5s6.5 2.9 6.5 6.5zm14.5 0c0-2.2-.8-4.2-2.2-5.7.7-.3 1.4-.3 2.2-.3 3 0 5.5 2.6 5.5 6z',
  docs: 'M6 2h8l5 5v14a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1V3a1 1 0 0 1 1-1zm7 1.5V8h4.5zM8 12h8v1.6H8zm0 4h8v1.6H8z',
  search: 'M10.5 3a7.5 7.5 0 0 1 6 12l4.8 4.8-1.5 1.5-4.8-4.8A7.5 7.5 0 1 1 10.5 3zm0 2a5.5 5.5 0 1 0 0 11 5.5 5.5 0 0 0 0-11z',
  lock: 'M12 2a5 5 0 0 1 5 5v3h1a1 1 0 0 1 1 1v10a1 1 0 0 1-1 1H6a1 1 0 0 1-1-1V11a1 1 0 0 1 1-1h1V7a5 5 0 0 1 5-5zm0 2a3 3 0 0 0-3 3v3h6V7a3 3 0 0 0-3-3zm0 9.5a1.8 1.8 0 0 0-1 3.3V19h2v-2.2a1.8 1.8 0 0 0-1-3.3z',
  globe: 'M12 2a10 10 0 1 1 0 20 10 10 0 0 1 0-20zm-1.2 2.1A8 8 0 0 0 4.1 11h3.4c.2-2.6 1.2-5 3.3-6.9zm2.4 0c2.1 1.9 3.1 4.3 3.3 6.9h3.4a8 8 0 0 0-6.7-6.9zM9.5 11h5c-.2-2.3-1.1-4.2-2.5-5.7-1.4 1.5-2.3 3.4-2.5 5.7zm-5.4 2a8 8 0 0 0 6.7 6.9c-2.1-1.9-3.1-4.3-3.3-6.9zm5.4 0c.2 2.3 1.1 4.2 2.5 5.7 1.4-1.5 2.3-3.4 2.5-5.7zm7 0c-.2 2.6-1.2 5-3.3 6.9a8 8 0 0 0 6.7-6.9z',
  send: 'M3 20.5 21.5 12 3 3.5v6.8l12 1.7-12 1.7z',
  alert: 'M12 2 1 21h22zm-1 7h2v6h-2zm0 8h2v2h-2z',
  back: 'M15.5 4 7.5 12l8 8 1.5-1.5L10.5 12 17 5.5z',
  plus: 'M11 4h2v7h7v2h-7v7h-2v-7H4v-2h7z',
  check: 'M9.5 16.2 5.3 12l-1.4 1.4 5.6 5.6L20.5 8l-1.4-1.4z',
  offline: 'M2.3 3.7 3.7 2.3l18 18-1.4 1.4-4.7-4.7-3.6 3.6-8.5-8.5a14 14 0 0 1 4.2-3zm9.7 1.8a14 14 0 0 1 9.6 3.8l-4.2 4.2-7.8-7.8a14 14 0 0 1 2.4-.2z',
  members: 'M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm-8 8c0-3.3 3.6-6 8-6s8 2.7 8 6v1H4z',
} as const;

export type IconName = keyof typeof PATHS;

export function Icon({ name, className }: { name: IconName; className?: string }) {
  return (
    <svg class={className ? `icon ${className}` : 'icon'} viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false">
      <path d={PATHS[name]} fill="currentColor" />
    </svg>
  );
}
