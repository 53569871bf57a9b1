/**
 * Which socket peers are trusted: `server.trustProxy` (whose `X-Forwarded-*` is believed) and
 * `decision.trustedPeers` (who may name the original request). Addresses and CIDRs are checked
 * at config load (`isCidr`); IPv4-mapped IPv6 peers (`::ffff:10.0.0.1`) match their IPv4 entries.
 */
import { BlockList, isIPv4 } from 'node:net';

/** `(address) => trusted`; `false` (or an empty list) trusts nobody. */
export function createPeerMatcher(cidrs: readonly string[] | false): (address: string | undefined) => boolean {
  if (!cidrs || cidrs.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of cidrs) {
    const [address, bits] = entry.split('/') as [string, string | undefined];
    const type = isIPv4(address) ? 'ipv4' : 'ipv6';
    if (bits === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(bits), type);
  }
  return (address) => {
    if (!address) return false;
    const mapped = address.startsWith('::ffff:') ? address.slice(7) : address;
    return list.check(mapped, isIPv4(mapped) ? 'ipv4' : 'ipv6');
  };
}
