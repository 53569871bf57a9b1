/** Imports point one way (test/support/import-graph.ts has the layers); a new edge upward fails here. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { importersOf, layerOf, moduleOf, srcImports, violations } from './support/import-graph.ts';

const root = join(import.meta.dirname, '..');

describe('the import graph of src/', () => {
  it('points one way: cli → app → plugins/routes → runtime → targets → audit → identity, policy → config, errors', () => {
    const imports = srcImports(root);
    assert.ok(imports.length > 200, `only ${imports.length} imports found: the scanner is broken`);
    assert.deepEqual(violations(imports), []);
  });

  it('keeps Fastify to app, plugins/ and routes/ (and the commands above them): targets know nothing of it', () => {
    const below = importersOf(root, /^fastify(-plugin)?$|^@fastify\//).filter((f) => layerOf(moduleOf(f)) < layerOf('plugins'));
    assert.deepEqual(below, []);
  });

  it('keeps policy/ pure: no network, file system, HTTP framework or client', () => {
    const io = /^(node:)?(fs|fs\/promises|net|http|https|http2|dns|child_process)$|^(undici|fastify|ioredis)/;
    assert.deepEqual(importersOf(root, io).filter((f) => f.startsWith('src/policy/')), []);
  });

  it('is checked for real: an import upward, or from a folder in no layer, is reported', () => {
    assert.deepEqual(violations([{ from: 'src/targets/http.ts', to: 'src/plugins/request-state.ts' }]), [
      'src/targets/http.ts imports src/plugins/request-state.ts: targets (layer 3) may not depend on plugins (layer 5)',
    ]);
    assert.deepEqual(violations([{ from: 'src/misc/x.ts', to: 'src/errors.ts' }]), ['src/misc/x.ts: src/misc is in no layer']);
    assert.deepEqual(violations([{ from: 'src/routes/sso.ts', to: 'src/plugins/errors.ts' }]), []);
  });
});
