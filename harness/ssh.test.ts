import test from 'ava';
import * as net from 'node:net';
import ssh2 from 'ssh2';
import { SshSession, SshError, generateEd25519, hostKeyBlob, type SshEndpoint } from './ssh.js';

/** An ssh2 server on 127.0.0.1 that accepts one client key and runs `cat`, `exit N` and `sleep`. */
async function server(t: import('ava').ExecutionContext, hostKey: string, clientPublicKey: string): Promise<number> {
  const allowed = ssh2.utils.parseKey(clientPublicKey);
  if (allowed instanceof Error) throw allowed;
  const srv = new ssh2.Server({ hostKeys: [hostKey] }, (client) => {
    client.on('error', () => {});
    client.on('authentication', (ctx) => {
      if (ctx.method === 'publickey' && ctx.key.algo === allowed.type && ctx.key.data.equals(allowed.getPublicSSH())) {
        if (!ctx.signature) return ctx.accept();
        return allowed.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) === true ? ctx.accept() : ctx.reject();
      }
      ctx.reject(['publickey']);
    });
    client.on('session', (accept) => {
      accept().on('exec', (acc, _rej, info) => {
        const ch = acc();
        const m = /^exit (\d+)$/.exec(info.command);
        if (info.command === 'cat') {
          ch.on('data', (d: Buffer) => ch.write(d));
          ch.on('end', () => { ch.stderr.write('done\n'); ch.exit(0); ch.end(); });
        } else if (m) {
          ch.exit(Number(m[1]));
          ch.end();
        } else if (info.command === 'sleep') {
          // never answers
        } else {
          ch.stderr.write(`unknown ${info.command}\n`);
          ch.exit(127);
          ch.end();
        }
      });
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => srv.close());
  return (srv.address() as net.AddressInfo).port;
}

function keys(): { host: ReturnType<typeof generateEd25519>; client: ReturnType<typeof generateEd25519> } {
  return { host: generateEd25519('host'), client: generateEd25519('client') };
}

test('generateEd25519 keys parse with ssh2 and agree with their public line', (t) => {
  for (let i = 0; i < 300; i++) {
    const k = generateEd25519('c');
    const p = ssh2.utils.parseKey(k.privateKey);
    if (p instanceof Error) return t.fail(`key ${i}: ${p.message}`);
    t.is(p.getPublicSSH().toString('base64'), k.publicKey.split(' ')[1] ?? '');
  }
  t.pass();
});

test('exec with stdin, exit codes, and a pinned host key', async (t) => {
  const { host, client } = keys();
  const port = await server(t, host.privateKey, client.publicKey);
  const target: SshEndpoint = { host: '127.0.0.1', port, privateKey: client.privateKey, hostPublicKey: host.publicKey };
  const s = await SshSession.connect(target);
  t.teardown(() => s.close());
  const r = await s.exec('cat', { stdin: 'hello\nworld\n' });
  t.deepEqual([r.stdout, r.stderr, r.code], ['hello\nworld\n', 'done\n', 0]);
  t.is((await s.exec('exit 3')).code, 3);
  t.is((await s.exec('nope')).code, 127);
});

test('streaming exec: a duplex to a long-running process', async (t) => {
  const { host, client } = keys();
  const port = await server(t, host.privateKey, client.publicKey);
  const s = await SshSession.connect({ host: '127.0.0.1', port, privateKey: client.privateKey, hostPublicKey: host.publicKey });
  t.teardown(() => s.close());
  const p = await s.spawn('cat');
  const got: string[] = [];
  for (const line of ['one\n', 'two\n']) {
    p.stdin.write(line);
    got.push(await new Promise<string>((r) => p.stdout.once('data', (d: Buffer) => r(d.toString()))));
  }
  p.stdin.end();
  t.deepEqual(got, ['one\n', 'two\n']);
  t.deepEqual(await p.exit, { code: 0, signal: null });
});

test('a host key other than the pinned one is refused, naming both keys', async (t) => {
  const { host, client } = keys();
  const other = generateEd25519('other');
  const port = await server(t, host.privateKey, client.publicKey);
  const e = await t.throwsAsync(SshSession.connect({ host: '127.0.0.1', port, privateKey: client.privateKey, hostPublicKey: other.publicKey }), { instanceOf: SshError });
  t.regex(e!.message, /host key mismatch/);
  t.true(e!.message.includes(other.publicKey.split(' ')[1]!));
  t.true(e!.message.includes(host.publicKey.split(' ')[1]!));
});

test('a client key the server does not know fails authentication', async (t) => {
  const { host, client } = keys();
  const port = await server(t, host.privateKey, client.publicKey);
  await t.throwsAsync(SshSession.connect({ host: '127.0.0.1', port, privateKey: generateEd25519().privateKey, hostPublicKey: host.publicKey }), { instanceOf: SshError, message: /authentication/i });
});

test('exec timeout rejects with what was read', async (t) => {
  const { host, client } = keys();
  const port = await server(t, host.privateKey, client.publicKey);
  const s = await SshSession.connect({ host: '127.0.0.1', port, privateKey: client.privateKey, hostPublicKey: host.publicKey });
  t.teardown(() => s.close());
  await t.throwsAsync(s.exec('sleep', { timeoutMs: 300 }), { instanceOf: SshError, message: /timed out after 300 ms/ });
});

test('hostKeyBlob rejects a line whose blob names another type', (t) => {
  const k = generateEd25519().publicKey.split(' ')[1]!;
  t.is(hostKeyBlob(`ssh-ed25519 ${k}`).length, 51);
  t.throws(() => hostKeyBlob(`ssh-rsa ${k}`), { instanceOf: SshError });
  t.throws(() => hostKeyBlob('garbage'), { instanceOf: SshError });
});
