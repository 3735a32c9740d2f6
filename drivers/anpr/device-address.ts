/**
 * Which addresses a camera may send the gateway to. A camera names addresses in its replies (the
 * event and media services in GetCapabilities, the pull point in SubscriptionReference/Address,
 * the snapshot URI), and every request there carries the camera's credentials, so the gateway
 * follows one only when it is on the camera's own host: the host of the configured device URL
 * (any port, http or https), or a host the integrator listed in `trustedHosts`. Anything else is
 * refused with GW_ERR_DEVICE_FOREIGN_ADDRESS, unless `rewriteForeignAddresses` is set: then it is
 * moved onto the configured URL's scheme, host and port (keeping path and query) and logged —
 * what ONVIF clients commonly do for cameras behind NAT, done here only when asked for.
 * Hosts are compared as the WHATWG URL parser normalises them (case, IPv4 forms such as `127.1`,
 * IPv6 brackets, a trailing dot); names are not resolved, so `camera.local` and its IP differ.
 */
import { GatewayError } from '../../core/errors.js';
import { clip } from './soap-client.js';

export interface AddressPolicyOptions {
  /** Hosts besides the device URL's that the camera's addresses may name. Default none. */
  trustedHosts: readonly string[];
  /** Rewrite a foreign address onto the device URL instead of refusing it. Default false. */
  rewriteForeignAddresses: boolean;
}

export type RewriteListener = (rewrite: { what: string; from: string; to: string }) => void;

/**
 * Origins whose rewrite was told, remembered at most: a camera naming ever new hosts (hostile, or
 * misconfigured behind a changing NAT) must not grow the set for as long as the gateway runs; the
 * oldest is forgotten first (and told again if it comes back).
 */
const REWRITES_REMEMBERED = 64;

export class DeviceAddressPolicy {
  private readonly device: URL;
  private readonly hosts: Set<string>;
  private readonly rewritten = new Set<string>();

  constructor(
    deviceUrl: string,
    private readonly options: AddressPolicyOptions,
    private readonly onRewrite: RewriteListener = () => undefined,
  ) {
    this.device = new URL(deviceUrl);
    this.hosts = new Set([hostKey(this.device.hostname), ...options.trustedHosts.map((host) => hostKey(hostOf(host)))]);
  }

  /** The hosts addresses may name: the device URL's first, then `trustedHosts`. */
  get allowedHosts(): string[] {
    return [...this.hosts];
  }

  /**
   * The URL to use for `address`, which the camera gave as `what` (e.g. "pull point
   * (SubscriptionReference/Address)"). Throws GW_ERR_DEVICE_FOREIGN_ADDRESS for a foreign host or
   * a scheme other than http/https, GW_ERR_DEVICE_REPLY_INVALID for no URL at all.
   */
  resolve(address: string, what: string): URL {
    let url: URL;
    try {
      // Relative to the device URL: a relative address stays on the camera's host.
      url = new URL(address.trim(), this.device);
    } catch (error) {
      throw new GatewayError('GW_ERR_DEVICE_REPLY_INVALID', `the camera's ${what} "${clip(address, 200)}" is not a URL`, { cause: error });
    }
    // Userinfo in an address would make Node send the camera's choice of Basic credentials.
    url.username = '';
    url.password = '';
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw this.foreign(url, what, `its scheme ${url.protocol} is not http or https`);
    }
    if (this.hosts.has(hostKey(url.hostname))) return url;
    if (!this.options.rewriteForeignAddresses) throw this.foreign(url, what, `it is not on the camera's host (${this.allowedHosts.join(', ')})`);
    const moved = new URL(`${url.pathname}${url.search}`, this.device.origin);
    const key = `${url.origin} ${moved.origin}`;
    if (!this.rewritten.has(key)) {
      this.rewritten.add(key);
      if (this.rewritten.size > REWRITES_REMEMBERED) this.rewritten.delete(this.rewritten.values().next().value as string);
      this.onRewrite({ what, from: url.href, to: moved.href });
    }
    return moved;
  }

  private foreign(url: URL, what: string, why: string): GatewayError {
    return new GatewayError('GW_ERR_DEVICE_FOREIGN_ADDRESS', `refused the camera's ${what} ${clip(url.href, 200)}: ${why}`, {
      details: { address: url.href, what },
    });
  }
}

/** `host`, `host:port`, `[v6]` or a bare IPv6 address → the hostname as URL parses it. */
function hostOf(host: string): string {
  const trimmed = host.trim();
  const bracketed = trimmed.includes(':') && !trimmed.startsWith('[') && trimmed.split(':').length > 2 ? `[${trimmed}]` : trimmed;
  try {
    return new URL(`http://${bracketed}`).hostname;
  } catch {
    return trimmed.toLowerCase();
  }
}

function hostKey(hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, '');
}
