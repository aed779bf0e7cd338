import test from 'ava';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkKernelConfig, GUEST_KCONFIG, KconfigError, kconfigFragment, kconfigProblems } from './kconfig.js';
import type { Kernel } from './kernels.js';

const FULL = GUEST_KCONFIG.map((k) => `${k.option}=y`).join('\n');

test('the fragment names every option, with =m allowed where a module is loaded', (t) => {
  const f = kconfigFragment();
  for (const k of GUEST_KCONFIG) t.regex(f, new RegExp(`^${k.option}=y`, 'm'));
  t.regex(f, /^CONFIG_VIRTIO_NET=y {2}# or =m/m);
  t.regex(f, /^CONFIG_PACKET=y {2}# the probe sends the fence/m);
});

test('a config with everything has no problems; one missing option is named', (t) => {
  t.deepEqual(kconfigProblems(FULL), []);
  t.deepEqual(kconfigProblems(FULL.replace('CONFIG_VIRTIO_NET=y', 'CONFIG_VIRTIO_NET=m')), []);
  const p = kconfigProblems(FULL.replace('CONFIG_NET_NS=y', '# CONFIG_NET_NS is not set'));
  t.is(p.length, 1);
  t.regex(p[0]!, /^CONFIG_NET_NS=n, needs y: the probe runs each case in a fresh network namespace/);
  t.regex(kconfigProblems(FULL.replace('CONFIG_PACKET=y', 'CONFIG_PACKET=m'))[0]!, /^CONFIG_PACKET=m, needs y/);
  t.regex(kconfigProblems(FULL.replace('CONFIG_VIRTIO_NET=y\n', ''))[0]!, /^CONFIG_VIRTIO_NET=n \(not in \.config\)/);
});

test('checkKernelConfig reads .config beside a user\'s bzImage; =m with no --modules is an error naming the option', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'skbdiff-kconfig-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const kernel: Kernel = { release: '6.99.0', vmlinuz: path.join(dir, 'bzImage'), modulesDir: null, source: path.join(dir, 'bzImage') };
  t.is(checkKernelConfig(kernel), null);
  fs.writeFileSync(path.join(dir, '.config'), FULL);
  t.is(checkKernelConfig(kernel), path.join(dir, '.config'));
  fs.writeFileSync(path.join(dir, '.config'), FULL.replace('CONFIG_VIRTIO_PCI=y', 'CONFIG_VIRTIO_PCI=m'));
  const e = t.throws(() => checkKernelConfig(kernel), { instanceOf: KconfigError });
  t.regex(e!.message, /CONFIG_VIRTIO_PCI=m but no modules were given/);
});

test('the Debian kernels in the cache pass the check (when fetched)', (t) => {
  const root = path.join(path.dirname(new URL(import.meta.url).pathname), '../../vms/cache/kernels');
  const configs = fs.existsSync(root) ? fs.readdirSync(root).map((d) => path.join(root, d, 'boot', `config-${d}`)).filter((f) => fs.existsSync(f)) : [];
  if (configs.length === 0) {
    t.pass('no Debian kernel fetched yet');
    return;
  }
  for (const f of configs) t.deepEqual(kconfigProblems(fs.readFileSync(f, 'utf8')), [], f);
});
