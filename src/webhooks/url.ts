import { lookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import { isIP } from 'node:net';
import dns from 'node:dns';
import ipaddr from 'ipaddr.js';
import { DomainError } from '../errors';

/**
 * The URL rule of API.md "Webhooks": `https` only, and never to an address that is not public (loopback, private,
 * link-local, unique-local, CGNAT, multicast, reserved...), checked when the subscription is created and again at
 * each send (the name may resolve elsewhere by then). WEBHOOK_ALLOW_PRIVATE=true lifts both (development, tests).
 */

export class WebhookUrlError extends Error {
  readonly code = 'invalid_url';
}

/** True when the address is public unicast (IPv4-mapped IPv6 judged as its IPv4). */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.process(address);
  return parsed.range() === 'unicast';
}

function parseUrl(raw: string, allowPrivate: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WebhookUrlError('the url is not a valid absolute URL');
  }
  const allowed = allowPrivate ? ['https:', 'http:'] : ['https:'];
  if (!allowed.includes(url.protocol)) throw new WebhookUrlError(`the url must be ${allowPrivate ? 'http or https' : 'https'}`);
  if (url.username || url.password) throw new WebhookUrlError('the url must not carry credentials');
  return url;
}

const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');

/** Checks a URL against the rule, resolving its host; throws WebhookUrlError. */
export async function checkWebhookUrl(raw: string, allowPrivate: boolean): Promise<URL> {
  const url = parseUrl(raw, allowPrivate);
  if (allowPrivate) return url;
  const host = hostOf(url);
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      // A name that does not resolve (yet, or not from here) resolves to no private address: API.md refuses only
      // those. Each attempt checks it again, and the socket connects only to a public address (guardedLookup).
      return url;
    }
  }
  const refused = addresses.find((a) => !isPublicAddress(a));
  if (refused !== undefined || addresses.length === 0) {
    throw new WebhookUrlError(`the url's host resolves to ${refused ?? 'nothing'}, which is not a public address`);
  }
  return url;
}

/** The same check as a DomainError for the API: 400 invalid_url. */
export async function requireWebhookUrl(raw: string, allowPrivate: boolean): Promise<URL> {
  try {
    return await checkWebhookUrl(raw, allowPrivate);
  } catch (err) {
    if (err instanceof WebhookUrlError) throw new DomainError('invalid', 'invalid_url', err.message);
    throw err;
  }
}

/**
 * A socket `lookup` that refuses non-public addresses: the connection goes to the address that was checked, so a
 * name that resolves differently between the check and the connect (DNS rebinding) cannot reach a private host.
 */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) {
        callback(err, '', 4);
        return;
      }
      const list = addresses as dns.LookupAddress[];
      const refused = allowPrivate ? undefined : list.find((a) => !isPublicAddress(a.address));
      if (refused || list.length === 0) {
        callback(new WebhookUrlError(`${hostname} resolves to ${refused?.address ?? 'nothing'}, which is not a public address`), '', 4);
        return;
      }
      if (options.all) callback(null, list);
      else callback(null, list[0].address, list[0].family);
    });
  };
}
