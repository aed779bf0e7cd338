/**
 * The docker target on the real dockerd (scripts/setup.sh starts one): a few
 * cases through runCases with verdict pass, the container gone after close()
 * and after a SIGINT (with and without the CLI's handler) or a SIGKILL, and
 * the traffic rule: the main namespace gets no interface, route or
 * 198.18.0.0/15 frame while the container runs cases.
 */
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { predict } from '../../model/predict.js';
import { loadCases, runCases } from '../run.js';
import { containerSpec, CAP_ADD, DockerTarget, imageTag, LABEL_OWNER, LABEL_TARGET, pruneProbeImages } from './docker.js';
import { defaultProbePath } from './netns.js';
import { watchMainNamespace } from '../testing/fixtures.js';

const docker = new Docker();
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const dockerJs = fileURLToPath(new URL('./docker.js', import.meta.url));

const probeTest = existsSync(defaultProbePath) ? test.serial : test.serial.skip;

/** Containers of this target owned by process `pid` (of this host). */
async function ownedBy(pid: number): Promise<string[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL_TARGET}=docker`, `${LABEL_OWNER}=${hostname()}:${pid}`] } });
  return list.map((c) => c.Id);
}

async function until(f: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await f()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const mainLinks = (): string => execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).replace(/\s+\\\s+link\/.*$/gm, '');
const mainRoutes = (): string => execFileSync('ip', ['route', 'show', 'table', 'all'], { encoding: 'utf8' }) + execFileSync('ip', ['-6', 'route', 'show', 'table', 'all'], { encoding: 'utf8' });

const udpCase = (id: string, extra: object): string =>
  JSON.stringify({
    format: 'skbdiff-case/1',
    id,
    socket: { type: 'dgram', protocol: 'udp', bind: { addr: '198.18.0.1', port: 40000 }, connect: null, setsockopt: [] },
    sends: [{ to: { addr: '198.18.0.2', port: 7000 }, payload: { length: 100 }, flags: [], cmsgs: [] }],
    ...extra,
  });

/** A UDP send, a fragmented one, a MSG_PROBE send (nothing leaves), a MSG_PROBE carrying UDP_CORK=0. */
function writeCases(): { dir: string; file: string } {
  const dir = mkdtempSync(join(tmpdir(), 'skbdiff-docker-test-'));
  const to = { addr: '198.18.0.2', port: 7000 };
  const lines = [
    udpCase('dk-udp-100', {}),
    udpCase('dk-frag-3000', { net: { mtu: 1500 }, sends: [{ to, payload: { length: 3000 }, flags: [], cmsgs: [] }] }),
    udpCase('dk-frag-mtu576-2000', { net: { mtu: 576 }, sends: [{ to, payload: { length: 2000 }, flags: [], cmsgs: [] }] }),
    udpCase('dk-msg-probe', { sends: [{ to, payload: { length: 200 }, flags: ['MSG_PROBE'], cmsgs: [] }] }),
    udpCase('dk-cork-pushed-by-probe', {
      socket: {
        type: 'dgram', protocol: 'udp', bind: { addr: '198.18.0.1', port: 40000 }, connect: null,
        setsockopt: [{ level: 'SOL_UDP', name: 'UDP_CORK', value: { int: 1 } }],
      },
      sends: [
        { to, payload: { length: 120 }, flags: [], cmsgs: [] },
        { to, payload: { length: 0 }, flags: ['MSG_PROBE'], cmsgs: [], setsockopt: [{ level: 'SOL_UDP', name: 'UDP_CORK', value: { int: 0 } }] },
      ],
    }),
  ];
  const file = join(dir, 'docker.jsonl');
  writeFileSync(file, lines.join('\n') + '\n');
  return { dir, file };
}

test('containerSpec: NetworkMode none, not privileged, the lab capabilities, AutoRemove, /proc/sys writable only', (t) => {
  const s = containerSpec('skbdiff-probe:x', 'h:1');
  t.is(s.HostConfig?.NetworkMode, 'none');
  t.false(s.HostConfig?.Privileged);
  t.deepEqual(s.HostConfig?.CapAdd, [...CAP_ADD]);
  t.true(s.HostConfig?.AutoRemove);
  t.false(s.HostConfig?.ReadonlyPaths?.includes('/proc/sys'));
  t.true(s.HostConfig?.ReadonlyPaths?.includes('/proc/sysrq-trigger'));
  t.is(s.HostConfig?.MaskedPaths, undefined, "docker's masked paths stay");
  t.deepEqual(s.Cmd, ['--lab', 'veth']);
  t.true(s.StdinOnce && s.OpenStdin);
  t.not(imageTag(new Uint8Array([1])), imageTag(new Uint8Array([2])));
  t.regex(imageTag(new Uint8Array([1])), /^skbdiff-probe:[0-9a-f]{16}$/);
});

probeTest('DockerTarget: UDP, fragments and MSG_PROBE pass through runCases; nothing in the main netns; container gone after close', async (t) => {
  const linksBefore = mainLinks();
  const routesBefore = mainRoutes();
  const watch = watchMainNamespace();
  let seen: Awaited<ReturnType<typeof watch.stop>>;
  const { dir, file } = writeCases();
  const target = new DockerTarget();
  let during: { id: string; pid: number; ns: string; links: string; routes: string } | null = null;
  let results;
  try {
    const cases = await loadCases([file]);
    results = await runCases(cases, target, {
      predict,
      onCase: (done) => {
        if (done !== 2 || during) return;
        const c = target.container!;
        // The main netns and the container, looked at while it runs.
        during = { id: c.id, pid: c.pid, ns: readlinkSync(`/proc/${c.pid}/ns/net`), links: mainLinks(), routes: mainRoutes() };
      },
    });
  } finally {
    await target.close();
    seen = await watch.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  for (const c of results.cases) t.is(c.verdict, 'pass', `${c.id}: ${c.error?.message ?? c.rendered.join('\n')}`);
  t.is(results.counts.pass, 5);
  t.true(results.valid);
  t.is(results.target.name, 'docker');
  t.is(results.target.release, release(), 'the host kernel');
  const packets = Object.fromEntries(results.cases.map((c) => [c.id, c.observed?.packets.length]));
  t.deepEqual(packets, { 'dk-udp-100': 1, 'dk-frag-3000': 3, 'dk-frag-mtu576-2000': 4, 'dk-msg-probe': 0, 'dk-cork-pushed-by-probe': 1 });

  t.truthy(during, 'the container was looked at during the run');
  const d = during!;
  t.not(d.ns, readlinkSync('/proc/self/ns/net'), "the probe ran in the container's own netns");
  t.is(d.links, linksBefore, 'no interface appeared in the main netns (no docker0, no veth)');
  t.is(d.routes, routesBefore, 'no route appeared in the main netns');
  t.is(mainLinks(), linksBefore);
  t.is(mainRoutes(), routesBefore);
  t.notRegex(mainLinks(), /\bdocker0\b/);
  t.true(seen.markerSeen, 'the capture on "any" saw the loopback marker');
  t.deepEqual(seen.leaked, [], 'no 198.18.0.0/15 frame in the main netns');

  const err = await docker.getContainer(d.id).inspect().then(() => null, (e: { statusCode?: number }) => e.statusCode);
  t.is(err, 404, 'the container is gone after close()');
  t.deepEqual(await ownedBy(process.pid), []);
});

probeTest('DockerTarget: the container runs with NetworkMode none, unprivileged, from the FROM-scratch image', async (t) => {
  const target = new DockerTarget();
  try {
    const info = await target.start();
    const c = target.container!;
    const i = await docker.getContainer(c.id).inspect();
    t.is(i.HostConfig.NetworkMode, 'none');
    t.false(i.HostConfig.Privileged);
    t.deepEqual(Object.keys(i.NetworkSettings.Networks), ['none']);
    t.is(i.Config.Image, info.details['image']!);
    const img = await docker.getImage(info.details['image']!).inspect();
    t.is(img.RootFS.Layers?.length, 1, 'one layer: the probe alone');
    // The container's netns has lo and the probe's pair, nothing docker made.
    const links = execFileSync('nsenter', [`--net=/proc/${c.pid}/ns/net`, 'ip', '-o', 'link', 'show'], { encoding: 'utf8' });
    const names = [...links.matchAll(/^\d+: ([^:@]+)/gm)].map((m) => m[1]).sort();
    t.deepEqual(names, ['lo', 'rx', 'tx']);
    const routes = execFileSync('nsenter', [`--net=/proc/${c.pid}/ns/net`, 'ip', 'route', 'show'], { encoding: 'utf8' });
    t.is(routes.trim(), '', 'no route in the container netns');
  } finally {
    await target.close();
  }
});

/** Starts `args` under node, waits until it owns a running container, returns it and the child. */
/**
 * A child process whose DockerTarget has a running container. With `ready`, also
 * wait until the child prints it (its target has finished start(), handlers in place).
 * The child is killed when the test ends, whatever happened.
 */
async function childWithContainer(t: { teardown(fn: () => void): void }, args: string[], ready?: string) {
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  let ids: string[] = [];
  const up = await until(async () => {
    if (ready !== undefined && !out.includes(ready)) return false;
    ids = await ownedBy(child.pid!);
    if (ids.length === 0) return false;
    // The container may go between the listing and the inspection: not up (yet), not a failure.
    return (await docker.getContainer(ids[0]!).inspect().catch(() => null))?.State.Running ?? false;
  }, 60_000);
  return { child, exited, ids, up, out: () => out };
}

/** A child process that started a DockerTarget and idles (its handlers in place). */
function idleTargetChild(t: { teardown(fn: () => void): void }) {
  const script = `
    import { DockerTarget } from ${JSON.stringify(dockerJs)};
    const t = new DockerTarget();
    await t.start();
    console.log('target started');
    setInterval(() => {}, 1000);
  `;
  return childWithContainer(t, ['--input-type=module', '-e', script], 'target started');
}

probeTest('DockerTarget: SIGINT of `skbdiff run --target docker` removes the container (exit 130)', async (t) => {
  const r = await childWithContainer(t, ['bin/skbdiff.js', 'run', '--target', 'docker', 'harness/suites/frag.jsonl', 'harness/suites/udp.jsonl']);
  t.true(r.up, `the run's container came up: ${r.out()}`);
  await new Promise((res) => setTimeout(res, 500)); // some cases in flight
  r.child.kill('SIGINT');
  const end = await r.exited;
  t.is(end.code, 130, r.out());
  t.deepEqual(await ownedBy(r.child.pid!), [], 'no container of that run is left when it has exited');
});

probeTest("DockerTarget: SIGINT with no other handler: the target's handler removes the container and dies by SIGINT", async (t) => {
  const r = await idleTargetChild(t);
  t.true(r.up, r.out());
  r.child.kill('SIGINT');
  const end = await r.exited;
  t.is(end.signal, 'SIGINT', `re-raised: ${r.out()}`);
  t.deepEqual(await ownedBy(r.child.pid!), []);
});

probeTest('DockerTarget: SIGKILL of the harness: the probe sees EOF, dockerd removes the container (AutoRemove)', async (t) => {
  const r = await idleTargetChild(t);
  t.true(r.up, r.out());
  r.child.kill('SIGKILL');
  await r.exited;
  t.true(await until(async () => (await ownedBy(r.child.pid!)).length === 0, 15_000), 'the container went away by itself');
});

test.serial('DockerTarget: a daemon that does not answer is a clear error saying how to start it', async (t) => {
  const target = new DockerTarget({ docker: { socketPath: join(tmpdir(), `no-docker-${process.pid}.sock`) } });
  const e = await t.throwsAsync(target.start());
  t.regex(e?.message ?? '', /Docker daemon does not answer.*scripts\/setup\.sh.*dockerd --bridge=none/);
  await target.close();
});

test.serial('pruneProbeImages: keeps the current image and the newest others, removes older ones, leaves one a container uses', async (t) => {
  const label = `${LABEL_TARGET}=prune-test-${process.pid}`;
  const dir = mkdtempSync(join(tmpdir(), 'skbdiff-prune-'));
  const tags: string[] = [];
  let holder: Docker.Container | undefined;
  try {
    writeFileSync(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY f /f\n');
    for (let i = 0; i < 5; i++) {
      writeFileSync(join(dir, 'f'), `image ${i} of ${process.pid}\n`);
      const tag = `skbdiff-prune-test:${process.pid}-${i}`;
      execFileSync('docker', ['build', '-q', '--network', 'none', '--label', label, '-t', tag, dir], { stdio: 'ignore' });
      tags.push(tag);
      // Created has 1 s resolution: the oldest must be older than the rest.
      if (i === 0) await new Promise((r) => setTimeout(r, 1100));
    }
    // A container (created, never started) holds the oldest image.
    holder = await docker.createContainer({ Image: tags[0]!, Cmd: ['/f'], Labels: { [LABEL_TARGET]: 'prune-test' } });
    const logs: string[] = [];
    await pruneProbeImages(docker, tags[4]!, (m) => logs.push(m), 2, label);
    const left = (await docker.listImages({ filters: { label: [label] } })).flatMap((im) => im.RepoTags ?? []);
    t.true(left.includes(tags[4]!), 'the current image stays');
    t.true(left.includes(tags[0]!), `the image a container uses stays: ${logs.join('\n')}`);
    // Of tags 1..3, one stays (the newest; any of them on a tie of Created).
    t.is(left.filter((x) => tags.slice(1, 4).includes(x)).length, 1, `${left.join(', ')}\n${logs.join('\n')}`);
    t.is(logs.filter((l) => /removed old probe image/.test(l)).length, 2, logs.join('\n'));
    t.true(logs.some((l) => l.includes(`${tags[0]} kept`)), logs.join('\n'));
  } finally {
    await holder?.remove({ force: true }).catch(() => {});
    for (const tag of tags) await docker.getImage(tag).remove({ force: true }).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});
