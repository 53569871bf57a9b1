/**
 * Logs and audit records never share a stream by accident: by default logs go to stderr and the
 * audit `stdout` sink has stdout to itself; `logging.destination: stdout` is refused while an
 * audit sink is stdout; `logging.format: pretty` writes readable lines instead of JSON.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { stepgate, tempDir } from '../support/run-cli.ts';
import { startStepgate } from '../support/stepgate-process.ts';

async function config(logging: string, audit = '{ sinks: [{ type: stdout }] }'): Promise<string> {
  const file = join(await tempDir(), 'gateway.yaml');
  await writeFile(
    file,
    [
      'server: { host: 127.0.0.1, port: 0 }',
      'admin: { host: 127.0.0.1, port: 0 }',
      'targets: { t: { type: http, url: "http://127.0.0.1:9" } }',
      'routes: [{ name: s, path: /s, target: t, public: true }]',
      `audit: ${audit}`,
      `logging: ${logging}`,
    ].join('\n'),
  );
  return file;
}

const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');

describe('logging', () => {
  test('default: JSON logs on stderr, only audit records on stdout', async () => {
    const gw = await startStepgate(['serve', '--config', await config('{ level: info }')], { ready: /stepgate listening/ });
    const { url } = JSON.parse(gw.readyLine) as { url: string };
    assert.equal((await fetch(`${url}/nowhere`)).status, 404);
    assert.equal(await gw.stop(), 0);
    const audit = lines(gw.stdout()).map((line) => JSON.parse(line) as { v: number; reason: string });
    assert.deepEqual(audit.map((record) => [record.v, record.reason]), [[1, 'no_route']]);
    const logs = lines(gw.stderr()).map((line) => JSON.parse(line) as { msg: string; level: number });
    assert.ok(logs.some((log) => log.msg === 'stepgate listening'));
  });

  test('format: pretty → readable lines, not JSON', async () => {
    const gw = await startStepgate(['serve', '--config', await config('{ level: info, format: pretty }')], {
      ready: /stepgate listening/,
    });
    assert.match(gw.readyLine, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: stepgate listening$/);
    assert.equal(await gw.stop(), 0);
    assert.match(gw.stderr(), /\n {4}url: "http:\/\/127\.0\.0\.1:\d+"/);
  });

  test('destination: stdout with an audit stdout sink → refused by check, naming the key', async () => {
    const result = await stepgate(['check', '--config', await config('{ destination: stdout }')]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /logging\.destination: stdout is also an audit sink: logs and audit records would share one stream/);
  });

  test('destination: stdout with a file-only audit → logs on stdout, nothing on stderr', async () => {
    const dir = await tempDir();
    const file = await config('{ destination: stdout }', `{ sinks: [{ type: file, path: "${join(dir, 'audit.jsonl')}" }] }`);
    const gw = await startStepgate(['serve', '--config', file], { ready: /stepgate listening/ });
    assert.equal(await gw.stop(), 0);
    assert.match(gw.stdout(), /"msg":"stepgate listening"/);
    assert.equal(gw.stderr(), '');
  });
});
