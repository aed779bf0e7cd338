/**
 * What the model needs of the kernel's build config, as a run input: MAX_HEADER
 * (include/linux/netdevice.h), which sizes skb_small_head_cache from 6.3 and
 * so the truesize the send-buffer limit counts (model: smallHeadCacheSize).
 * Each target finds the config of its kernel: the host's /proc/config.gz or
 * /boot/config-<release>, a Debian guest kernel's package config, a remote
 * machine's over SSH.
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { parseKconfig } from '../vms/kconfig.js';

/** The kernel config's text, and where it came from (for the report). */
export interface KernelConfig {
  text: string;
  source: string;
}

/**
 * MAX_HEADER as include/linux/netdevice.h computes it (read in 6.12.107 and
 * 6.18.15): LL_MAX_HEADER is 128 with CONFIG_HYPERV_NET built in (`defined()`:
 * =m does not count), else 96 or 128 (MAC80211_MESH) with CONFIG_WLAN or AX25
 * (IS_ENABLED: =m counts), else 32; plus 48 when any of NET_IPIP, NET_IPGRE,
 * IPV6_SIT, IPV6_TUNNEL is enabled (=y or =m).
 * Null for a text with no CONFIG_ line (not a config).
 */
export function maxHeaderFromConfig(text: string): number | null {
  const c = parseKconfig(text);
  if (c.size === 0) return null;
  const builtIn = (o: string): boolean => c.get(o) === 'y';
  const enabled = (o: string): boolean => c.get(o) === 'y' || c.get(o) === 'm';
  let ll = 32;
  if (builtIn('CONFIG_HYPERV_NET')) ll = 128;
  else if (builtIn('CONFIG_WLAN') || enabled('CONFIG_AX25')) ll = builtIn('CONFIG_MAC80211_MESH') ? 128 : 96;
  const tunnels = ['CONFIG_NET_IPIP', 'CONFIG_NET_IPGRE', 'CONFIG_IPV6_SIT', 'CONFIG_IPV6_TUNNEL'].some(enabled);
  return ll + (tunnels ? 48 : 0);
}

/** The running kernel's config: /proc/config.gz (CONFIG_IKCONFIG_PROC), else /boot/config-<uname -r>. */
export function hostKernelConfig(): KernelConfig | null {
  try {
    if (existsSync('/proc/config.gz')) return { text: gunzipSync(readFileSync('/proc/config.gz')).toString('utf8'), source: '/proc/config.gz' };
  } catch {
    /* unreadable: try /boot */
  }
  const boot = `/boot/config-${release()}`;
  try {
    if (existsSync(boot)) return { text: readFileSync(boot, 'utf8'), source: boot };
  } catch {
    /* none */
  }
  return null;
}

/** A shell command that prints the running kernel's config on a remote machine or guest (nothing if none). */
export const REMOTE_CONFIG_COMMAND = 'cat "/boot/config-$(uname -r)" 2>/dev/null || zcat /proc/config.gz 2>/dev/null || true';

/** The run inputs a kernel config gives, and a line for the target's details. */
export function configInputs(config: KernelConfig | null): { inputs: { max_header?: number }; detail: string } {
  const mh = config ? maxHeaderFromConfig(config.text) : null;
  if (!config || mh === null) {
    return { inputs: {}, detail: 'no kernel config found: MAX_HEADER unknown (the send-buffer limit of small skbs is bounded, cases at it are unmodelled on 6.3+)' };
  }
  return { inputs: { max_header: mh }, detail: `MAX_HEADER ${mh} (inputs.max_header), from ${config.source}` };
}
