/**
 * Test fixtures shared by the model's and the harness's tests: the example
 * case of case-format.md, and a lab as the model sees it.
 */
import type { IdState } from '../net/ipv4/ip_output.js';
import type { Lab } from '../net/sock.js';
import { profileFor } from '../profiles.js';

/** The example case of ../shared/case-format.md, as written there. */
export const EXAMPLE = `{
  "format": "skbdiff-case/1",
  "id": "ttl-cmsg-overrides-sockopt",
  "about": "An IP_TTL cmsg wins over the IP_TTL socket option.",
  "net": {
    "mtu": 1500,
    "route_mtu": null,
    "sysctl": { "net.ipv4.ip_default_ttl": 64 },
    "offload": { "tx_checksum": false, "gso": false }
  },
  "socket": {
    "type": "dgram",
    "protocol": "udp",
    "bind": { "addr": "198.18.0.1", "port": 40000 },
    "connect": null,
    "setsockopt": [
      { "level": "SOL_IP", "name": "IP_TTL", "value": { "int": 9 } }
    ]
  },
  "sends": [
    {
      "to": { "addr": "198.18.0.2", "port": 7000 },
      "payload": { "length": 100 },
      "iov": null,
      "flags": [],
      "cmsgs": [
        { "level": "SOL_IP", "type": "IP_TTL", "value": { "int": 3 } }
      ]
    }
  ]
}
`;

/** The default lab of case-format.md (MTU 1500, offloads off, root) on a kernel line. */
export function mkLab(release = '6.18.44', o: Partial<Lab> = {}): Lab {
  return {
    profile: profileFor(release),
    devMtu: 1500,
    routeMtu: null,
    txIfindex: 2,
    txChecksum: false,
    gso: false,
    sysctl: new Map(),
    capNetRaw: true,
    capNetAdmin: true,
    capNetBindService: true,
    txGsoUdpL4: profileFor(release).gsoSoftwareHasUdpL4,
    maxHeader: null,
    ...o,
  };
}

/** Fresh ID state: no groups drawn, timestamps at 00:00. */
export const ids = (): IdState => ({ nextGroup: 0, connectedGroup: null, msOfDay: 0 });
