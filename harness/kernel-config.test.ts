/**
 * MAX_HEADER from a kernel config, as include/linux/netdevice.h computes it
 * (LL_MAX_HEADER by `defined(CONFIG_HYPERV_NET)`, `defined(CONFIG_WLAN) ||
 * IS_ENABLED(CONFIG_AX25)`, MAC80211_MESH; + 48 with any IP tunnel enabled),
 * on this machine's and the Debian kernels' real configs where they are here.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configInputs, hostKernelConfig, maxHeaderFromConfig } from './kernel-config.js';
import { parseKconfig } from '../vms/kconfig.js';

const cfg = (...lines: string[]): string => ['# Automatically generated file; DO NOT EDIT.', ...lines, '# CONFIG_IP_MROUTE is not set', ''].join('\n');

test('maxHeaderFromConfig: LL_MAX_HEADER 32/96/128, +48 with a tunnel; =m counts only where IS_ENABLED is used', (t) => {
  t.is(maxHeaderFromConfig(cfg('CONFIG_NET=y')), 32);
  // Debian cloud: Hyper-V netvsc and the tunnels as modules.
  t.is(maxHeaderFromConfig(cfg('CONFIG_HYPERV_NET=m', 'CONFIG_NET_IPIP=m', 'CONFIG_NET_IPGRE=m', 'CONFIG_IPV6_SIT=m', 'CONFIG_IPV6_TUNNEL=m')), 80);
  t.is(maxHeaderFromConfig(cfg('CONFIG_HYPERV_NET=y')), 128);
  t.is(maxHeaderFromConfig(cfg('CONFIG_HYPERV_NET=y', 'CONFIG_IPV6_TUNNEL=m')), 176);
  t.is(maxHeaderFromConfig(cfg('CONFIG_WLAN=y')), 96);
  t.is(maxHeaderFromConfig(cfg('CONFIG_WLAN=y', 'CONFIG_MAC80211_MESH=y')), 128);
  t.is(maxHeaderFromConfig(cfg('CONFIG_AX25=m')), 96, 'IS_ENABLED(CONFIG_AX25)');
  t.is(maxHeaderFromConfig(cfg('CONFIG_NET_IPGRE=y')), 80);
  t.is(maxHeaderFromConfig('not a config\n'), null);
  t.is(parseKconfig(cfg('CONFIG_A=y', 'CONFIG_B="x"')).get('CONFIG_B'), '"x"');
  t.is(parseKconfig(cfg('CONFIG_A=y')).get('CONFIG_IP_MROUTE'), 'n', '"is not set" reads as n');
});

test('configInputs: max_header and where it came from; none without a config', (t) => {
  t.deepEqual(configInputs({ text: cfg('CONFIG_NET_IPIP=m'), source: 'x' }), { inputs: { max_header: 80 }, detail: 'MAX_HEADER 80 (inputs.max_header), from x' });
  const none = configInputs(null);
  t.deepEqual(none.inputs, {});
  t.regex(none.detail, /MAX_HEADER unknown/);
});

test('the real configs: this host (/proc/config.gz or /boot) and the cached Debian cloud kernels', (t) => {
  const host = hostKernelConfig();
  if (existsSync('/proc/config.gz')) {
    t.truthy(host, '/proc/config.gz exists and must be read');
    t.is(host!.source, '/proc/config.gz');
    t.regex(host!.text, /^CONFIG_NET=y$/m);
    t.not(maxHeaderFromConfig(host!.text), null);
  }
  // Debian's cloud kernels build Hyper-V's netvsc and the IP tunnels as modules: 32 + 48.
  const cache = fileURLToPath(new URL('../../vms/cache/kernels/', import.meta.url));
  const configs = existsSync(cache)
    ? readdirSync(cache).flatMap((d) => (existsSync(join(cache, d, 'boot')) ? readdirSync(join(cache, d, 'boot')).filter((f) => f.startsWith('config-')).map((f) => join(cache, d, 'boot', f)) : []))
    : [];
  for (const f of configs) t.is(maxHeaderFromConfig(readFileSync(f, 'utf8')), 80, f);
  t.pass();
});
