/**
 * Config reload: SIGHUP or a change of the config file swaps the config whole — validated first,
 * the old one kept on any error — and counts `stepgate_config_reloads_total{result}`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../../src/config/load.ts';
import { ConfigError } from '../../../src/errors.ts';
import { type EchoUpstream, startEchoUpstream } from '../../../src/dev/upstream.ts';
import { startGateway, type TestGateway, waitReady } from '../../support/gateway.ts';
import { startIssuer, type TestIssuer } from '../../support/issuer.ts';

let issuer: TestIssuer;
let upstream: EchoUpstream;

before(async () => {
  [issuer, upstream] = await Promise.all([startIssuer(), startEchoUpstream()]);
});

after(async () => {
  await Promise.all([upstream.close(), issuer.close()]);
});

interface RouteDoc {
  name: string;
  path: string;
  scopes: string[];
}

/** A config document with `routes`, as `startGateway` in test/support completes it. */
function document(routes: RouteDoc[]): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    audit: { sinks: [{ type: 'stdout' }] },
    logging: { level: 'info' },
    issuers: [{ name: 'ci', issuer: issuer.issuer, audiences: ['stepgate'], jwksUri: issuer.jwksUri }],
    targets: { echo: { type: 'http', url: upstream.url, timeoutMs: 1000 } },
    routes: routes.map((r) => ({
      name: r.name,
      path: r.path,
      methods: ['GET'],
      target: 'echo',
      allow: { scopes: r.scopes },
    })),
  };
}

async function reloadCount(gateway: { adminUrl: string }, result: 'ok' | 'error'): Promise<number> {
  const text = await (await fetch(`${gateway.adminUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`stepgate_config_reloads_total{result="${result}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('config reload in process', () => {
  let gateway: TestGateway;
  let token: string;
  const get = async (path: string) => {
    const res = await fetch(`${gateway.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json().catch(() => ({}))) as { code?: string };
    return { status: res.status, code: body.code };
  };

  before(async () => {
    gateway = await startGateway(document([{ name: 'a', path: '/a', scopes: ['read'] }]));
    await waitReady(gateway);
    token = await issuer.sign({ sub: 'dev', scope: 'read' });
  });
  after(() => gateway.close());

  it('adds and removes routes and applies policy changes', async () => {
    assert.equal((await get('/a')).status, 200);
    assert.equal((await get('/b')).code, 'SG_ERR_NO_ROUTE');

    await gateway.app.stepgate.reload(
      parseConfig(document([{ name: 'b', path: '/b', scopes: ['read'] }]), {}),
    );
    assert.equal((await get('/b')).status, 200, 'the added route answers');
    const removed = await get('/a');
    assert.equal(removed.status, 404);
    assert.equal(removed.code, 'SG_ERR_NO_ROUTE');

    await gateway.app.stepgate.reload(
      parseConfig(document([{ name: 'b', path: '/b', scopes: ['admin'] }]), {}),
    );
    assert.equal((await get('/b')).status, 403, 'the new policy applies');
    assert.equal(await reloadCount(gateway, 'ok'), 2);
  });

  it('refuses a change of server.port, naming the key, and keeps the old config', async () => {
    const before = await reloadCount(gateway, 'error');
    const changed = document([{ name: 'c', path: '/c', scopes: ['read'] }]);
    changed['server'] = { host: '127.0.0.1', port: 8099 };
    changed['logging'] = { level: 'debug' };
    await assert.rejects(gateway.app.stepgate.reload(parseConfig(changed, {})), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /server\.port: changes need a restart/);
      assert.match(err.message, /logging\.level: changes need a restart/);
      return true;
    });
    assert.equal((await get('/c')).code, 'SG_ERR_NO_ROUTE', 'the old routes stay');
    assert.equal(await reloadCount(gateway, 'error'), before + 1);
    const refused = gateway.logs.lines<{ msg: string }>().filter((l) => l.msg.startsWith('config reload refused'));
    assert.ok(refused.length > 0);
  });

  it('a changed issuers list gets a new verifier; an unchanged one keeps the warm verifier', async () => {
    const other = await startIssuer();
    try {
      const verifier = gateway.app.stepgate.verifier;
      await gateway.app.stepgate.reload(parseConfig(document([{ name: 'b', path: '/b', scopes: ['read'] }]), {}));
      assert.equal(gateway.app.stepgate.verifier, verifier, 'same issuers: verifier kept');

      const changed = document([{ name: 'b', path: '/b', scopes: ['read'] }]);
      changed['issuers'] = [{ name: 'ci', issuer: other.issuer, audiences: ['stepgate'], jwksUri: other.jwksUri }];
      await gateway.app.stepgate.reload(parseConfig(changed, {}));
      assert.notEqual(gateway.app.stepgate.verifier, verifier);
      assert.equal((await get('/b')).status, 401, "the old issuer's token no longer verifies");
      const res = await fetch(`${gateway.url}/b`, {
        headers: { authorization: `Bearer ${await other.sign({ sub: 'dev', scope: 'read' })}` },
      });
      assert.equal(res.status, 200);
      assert.equal((await fetch(`${gateway.adminUrl}/readyz`)).status, 200);
      // Back to the first issuer for the tests that follow.
      await gateway.app.stepgate.reload(parseConfig(document([{ name: 'b', path: '/b', scopes: ['read'] }]), {}));
    } finally {
      await other.close();
    }
  });

  it('accepts a change of audit.claims', async () => {
    const changed = document([{ name: 'b', path: '/b', scopes: ['read'] }]);
    changed['audit'] = { sinks: [{ type: 'stdout' }], claims: ['email'] };
    await gateway.app.stepgate.reload(parseConfig(changed, {}));
    assert.deepEqual(gateway.app.stepgate.config.audit.claims, ['email']);
  });
});

describe('stepgate serve reloads its config file', () => {
  it('on SIGHUP and on a file change; an invalid file keeps the old config', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepgate-reload-'));
    const configFile = join(dir, 'gateway.yaml');
    const write = (routeName: string, file = configFile) =>
      writeFileSync(
        file,
        [
          'server: { host: 127.0.0.1, port: 0 }',
          'admin: { host: 127.0.0.1, port: 0 }',
          `issuers: [{ name: ci, issuer: "${issuer.issuer}", audiences: [stepgate], jwksUri: "${issuer.jwksUri}" }]`,
          `targets: { echo: { type: http, url: "${upstream.url}" } }`,
          `routes: [{ name: ${routeName}, path: /${routeName}, target: echo, allow: { scopes: [read] } }]`,
          'audit: { sinks: [{ type: stdout }] }',
        ].join('\n'),
      );
    write('one');
    const child = spawn(process.execPath, ['bin/stepgate.js', 'serve', '--config', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    try {
      const urls = await new Promise<{ url: string; adminUrl: string }>((resolve, reject) => {
        child.stderr.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          const line = output.split('\n').find((l) => l.includes('stepgate listening'));
          if (line) resolve(JSON.parse(line) as { url: string; adminUrl: string });
        });
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
        });
        child.on('exit', () => reject(new Error(`serve exited early:\n${output}`)));
      });
      const token = await issuer.sign({ sub: 'dev', scope: 'read' });
      const status = async (path: string) =>
        (await fetch(`${urls.url}${path}`, { headers: { authorization: `Bearer ${token}` } })).status;
      const eventually = async (check: () => Promise<boolean>, what: string) => {
        for (let i = 0; i < 100; i++) {
          if (await check()) return;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        assert.fail(`${what}\n${output}`);
      };
      assert.equal(await status('/one'), 200);

      // Wait out the file watch's debounce of the first write, then count from here.
      await new Promise((resolve) => setTimeout(resolve, 400));
      write('two');
      child.kill('SIGHUP');
      await eventually(async () => (await status('/two')) === 200, 'route "two" never answered');
      assert.equal(await status('/one'), 404);
      await eventually(async () => (await reloadCount(urls, 'ok')) >= 1, 'no ok reload counted');

      writeFileSync(configFile, 'routes: [ this is not: valid');
      child.kill('SIGHUP');
      await eventually(async () => (await reloadCount(urls, 'error')) >= 1, 'no error reload counted');
      assert.equal(await status('/two'), 200, 'the old config stays');
      assert.match(output, /config reload refused: keeping the old config/);

      // An editor-style save (write a new file, rename it over the old) is picked up unprompted.
      const temp = join(dir, 'gateway.yaml.tmp');
      write('three', temp);
      renameSync(temp, configFile);
      await eventually(async () => (await status('/three')) === 200, 'the file change was not picked up');
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});
