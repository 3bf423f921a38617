// Who drew each emoji style and under which licence, for the judge's model card (the data module's
// emoji-catalog.ts lists the same in its header comment).
export const STYLE_CREDITS: Record<string, { artwork: string; licence: string; npm: string }> = {
  twitter: { artwork: 'Twemoji (Twitter, Inc. and contributors)', licence: 'CC-BY-4.0', npm: 'emoji-datasource-twitter' },
  google: { artwork: 'Noto Emoji (Google)', licence: 'Apache-2.0', npm: 'emoji-datasource-google' },
  fluent: { artwork: 'Fluent Emoji (Microsoft)', licence: 'MIT', npm: '@iconify-json/fluent-emoji' },
  'fluent-flat': { artwork: 'Fluent Emoji Flat (Microsoft)', licence: 'MIT', npm: '@iconify-json/fluent-emoji-flat' },
  'noto-classic': { artwork: 'Noto Emoji v1 (Google Inc.)', licence: 'Apache-2.0', npm: '@iconify-json/noto-v1' },
  firefox: { artwork: 'Firefox OS Emoji (Mozilla)', licence: 'Apache-2.0', npm: '@iconify-json/fxemoji' },
  emojione: { artwork: 'Emoji One, colored (Emoji One; EmojiTwo)', licence: 'CC-BY-4.0', npm: '@iconify-json/emojione' },
}

export function styleCredit(style: string): string {
  const c = STYLE_CREDITS[style]
  return c ? `${c.artwork}, ${c.licence}, via npm \`${c.npm}\`` : 'licence: see src-main/ml/data/emoji-catalog.ts'
}
