// API keys: required off loopback, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * A key checker. Both sides are hashed first, so the comparison takes the same time whatever the
 * length or content of the guess (timingSafeEqual needs equal lengths).
 */
export function keyChecker(key: string): (given: string | undefined) => boolean {
  const expected = digest(key);
  return (given) => given !== undefined && timingSafeEqual(digest(given), expected);
}

/** The key a request carries: `Authorization: Bearer KEY` or `X-API-Key: KEY`. */
export function requestKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim();
  const key = headers['x-api-key'];
  return typeof key === 'string' ? key : undefined;
}

/** 127.0.0.0/8, ::1 and localhost: reachable only from this machine. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '::ffff:127.0.0.1';
}
