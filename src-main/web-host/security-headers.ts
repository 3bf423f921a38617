// Headers for everything the web host serves. The CSP matches the meta tag in
// src-renderer/index.html; frame-ancestors only works as a header, so it is added here.
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  // studio-file: is the desktop app's scheme for workspace files (src-main/electron/workspace-protocol.ts).
  "img-src 'self' data: blob: studio-file:",
  "font-src 'self'",
  "connect-src 'self' studio-file:",
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
  "frame-ancestors 'none'",
].join('; ')

export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
}
