/**
 * A real Keycloak for the tests: `org.keycloak:keycloak-quarkus-dist` from Maven Central, run with
 * the machine's JDK as `kc.sh start-dev --import-realm` (H2 dev database) on free ports, once per
 * test run, with the realm of `deploy/keycloak/stepgate-realm.json`. Stopped after the run.
 *
 * - The zip is fetched with Maven (`dependency:unpack`, so Maven's own cache and mirrors apply)
 *   and kept unpacked in `$STEPGATE_CACHE_DIR/keycloak-<version>`, renamed into place whole.
 * - Each run gets a home of its own: Keycloak writes `data/` (the H2 database) and re-augments
 *   `lib/quarkus` under its home, so those are private copies; the 160 MB of jars (`lib/lib`) are
 *   shared read-only through a symlink. Several runs on one machine never write the same file.
 * - `start-dev` re-augments (about 20 s) whenever its build options differ from the ones its
 *   `lib/quarkus` was built with. The first run keeps its augmented `lib/quarkus` in the cache,
 *   keyed by those options, and later runs start from it (about 18 s instead of about 40 s).
 * - The realm is the deploy file as it is, with shorter token lifetimes (`testRealm`), so tests of
 *   refresh and expiry take seconds.
 *
 * Tests get `STEPGATE_TEST_KEYCLOAK_URL` (the base URL; the realm's issuer is
 * `${url}/realms/platform`), `STEPGATE_TEST_KEYCLOAK_ADMIN_USER` and `..._ADMIN_PASSWORD` (the
 * master realm's admin, for the admin REST API) and `..._MANAGEMENT_URL` (the management
 * interface: `/health/ready`). A Keycloak already running can be used instead by setting those
 * variables before `npm test`.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Service } from './types.ts';
import { commandPath, ensureDebianPackages, freePort, runQuiet, waitFor } from './util.ts';

/** A 26.x that Maven Central serves (see .library/env/packages/maven-partial.tsv). */
const KEYCLOAK_VERSION = '26.5.6';
const ARTIFACT = `org.keycloak:keycloak-quarkus-dist:${KEYCLOAK_VERSION}:zip`;
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
/** The build options `start-dev` is run with: they key the cached augmentation. */
const BUILD_OPTIONS = ['--health-enabled=true'];
const BOOT_TIMEOUT_MS = 240_000;
const ADMIN_USER = 'admin';

/** Lifetimes of the test copy of the realm, in seconds: refresh and expiry tests take seconds. */
const TEST_REALM_LIFETIMES = { accessTokenLifespan: 10 } as const;

/** The deploy realm with the test lifetimes; everything else exactly as in the file. */
export function testRealm(deployRealm: Record<string, unknown>): Record<string, unknown> {
  return { ...deployRealm, ...TEST_REALM_LIFETIMES };
}

function findJava(say: (line: string) => void): string | undefined {
  const home = process.env['JAVA_HOME'];
  if (home && existsSync(join(home, 'bin', 'java'))) return join(home, 'bin', 'java');
  const onPath = commandPath('java');
  if (onPath) return onPath;
  return ensureDebianPackages('/usr/bin/java', ['openjdk-17-jre-headless'], say) ? '/usr/bin/java' : undefined;
}

/** The unpacked distribution in the cache, fetched on first use; renamed into place whole. */
async function ensureDistribution(cacheDir: string, say: (line: string) => void): Promise<string> {
  const dist = join(cacheDir, `keycloak-${KEYCLOAK_VERSION}`);
  if (existsSync(join(dist, 'lib', 'quarkus-run.jar'))) return dist;
  if (!commandPath('mvn') && !ensureDebianPackages('/usr/bin/mvn', ['maven'], say)) {
    throw new Error('no Maven to fetch it with (apt-get install maven)');
  }
  if (!ensureDebianPackages('/usr/bin/unzip', ['unzip'], say)) throw new Error('no unzip (apt-get install unzip)');
  say(`▶ fetching Keycloak ${KEYCLOAK_VERSION} from Maven Central (about 165 MB, once)`);
  const staging = await mkdtemp(join(cacheDir, `.keycloak-${KEYCLOAK_VERSION}-`));
  try {
    // `copy`, not `unpack`: the unpack goal of the plugin Maven picks without a POM (2.8) keeps
    // "already unpacked" markers in a literal `${project.basedir}/target` under the working
    // directory, and then skips the next unpack into a fresh directory. The version is pinned so
    // a machine with an empty ~/.m2 runs the same plugin; unzip keeps kc.sh executable.
    const result = await runQuiet('mvn', [
      '-q',
      '-B',
      `${DEPENDENCY_PLUGIN}:copy`,
      `-Dartifact=${ARTIFACT}`,
      `-DoutputDirectory=${staging}`,
    ]);
    if (result.code !== 0) throw new Error(`mvn dependency:copy failed: ${result.output.slice(-500)}`);
    const zip = join(staging, `keycloak-quarkus-dist-${KEYCLOAK_VERSION}.zip`);
    const unzipped = await runQuiet('unzip', ['-q', zip, '-d', staging]);
    if (unzipped.code !== 0) throw new Error(`unzip failed: ${unzipped.output.slice(-500)}`);
    try {
      await rename(join(staging, `keycloak-${KEYCLOAK_VERSION}`), dist);
    } catch (err) {
      // Another run unpacked it meanwhile: use theirs.
      if (!existsSync(join(dist, 'lib', 'quarkus-run.jar'))) throw err;
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return dist;
}

/** A private Keycloak home: own `data/`, `lib/quarkus`, `conf`; the jars shared read-only. */
async function prepareHome(dist: string, augmented: string, realm: string): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'stepgate-keycloak-'));
  await Promise.all(
    ['bin', 'conf', 'providers', 'themes'].map((dir) => cp(join(dist, dir), join(home, dir), { recursive: true })),
  );
  await mkdir(join(home, 'lib'));
  await Promise.all([
    cp(join(dist, 'lib', 'app'), join(home, 'lib', 'app'), { recursive: true }),
    cp(join(dist, 'lib', 'quarkus-run.jar'), join(home, 'lib', 'quarkus-run.jar')),
    cp(existsSync(augmented) ? augmented : join(dist, 'lib', 'quarkus'), join(home, 'lib', 'quarkus'), {
      recursive: true,
    }),
    symlink(join(dist, 'lib', 'lib'), join(home, 'lib', 'lib'), 'dir'),
  ]);
  await mkdir(join(home, 'data', 'import'), { recursive: true });
  const deployRealm = JSON.parse(await readFile(realm, 'utf8')) as Record<string, unknown>;
  await writeFile(join(home, 'data', 'import', 'platform-realm.json'), JSON.stringify(testRealm(deployRealm)));
  return home;
}

/** Keeps this run's augmentation for the next runs (copied, then renamed into place). */
async function keepAugmentation(home: string, augmented: string): Promise<void> {
  if (existsSync(augmented)) return;
  const staging = `${augmented}.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await cp(join(home, 'lib', 'quarkus'), staging, { recursive: true });
    await rename(staging, augmented);
  } catch {
    // Someone else kept theirs first, or the cache is read-only: the next run augments again.
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

export const keycloak: Service = {
  name: 'Keycloak',
  usedBy: /\bkeycloak(?:Url|Service)\(/,
  async start({ root, cacheDir, say }) {
    const given = process.env['STEPGATE_TEST_KEYCLOAK_URL'];
    if (given) {
      const management = process.env['STEPGATE_TEST_KEYCLOAK_MANAGEMENT_URL'];
      return {
        env: {
          STEPGATE_TEST_KEYCLOAK_URL: given,
          STEPGATE_TEST_KEYCLOAK_ADMIN_USER: process.env['STEPGATE_TEST_KEYCLOAK_ADMIN_USER'] ?? ADMIN_USER,
          STEPGATE_TEST_KEYCLOAK_ADMIN_PASSWORD: process.env['STEPGATE_TEST_KEYCLOAK_ADMIN_PASSWORD'] ?? '',
          ...(management ? { STEPGATE_TEST_KEYCLOAK_MANAGEMENT_URL: management } : {}),
        },
        note: `Keycloak at ${given} (given)`,
      };
    }
    const java = findJava(say);
    if (!java) return { missing: 'no Java to run Keycloak with (apt-get install openjdk-17-jre-headless)' };
    let dist: string;
    try {
      dist = await ensureDistribution(cacheDir, say);
    } catch (err) {
      return { missing: `Keycloak ${KEYCLOAK_VERSION} could not be fetched: ${(err as Error).message}` };
    }
    const optionsKey = BUILD_OPTIONS.join(' ').replace(/[^A-Za-z0-9=-]+/g, '_');
    const augmented = join(cacheDir, `keycloak-${KEYCLOAK_VERSION}-augmented-${optionsKey}`);
    const home = await prepareHome(dist, augmented, join(root, 'deploy', 'keycloak', 'stepgate-realm.json'));
    const [httpPort, managementPort] = [await freePort(), await freePort()];
    const password = randomBytes(18).toString('base64url');
    const log = createWriteStream(join(home, 'keycloak.log'));
    const started = Date.now();
    const child = spawn(
      'sh',
      [
        join(home, 'bin', 'kc.sh'),
        'start-dev',
        '--import-realm',
        ...BUILD_OPTIONS,
        '--http-host=127.0.0.1',
        `--http-port=${httpPort}`,
        `--http-management-port=${managementPort}`,
        '--log-level=warn',
      ],
      {
        cwd: home,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          JAVA: java,
          KC_BOOTSTRAP_ADMIN_USERNAME: ADMIN_USER,
          KC_BOOTSTRAP_ADMIN_PASSWORD: password,
          // Several test runs may share the machine: a bounded heap, not 70 % of its memory.
          JAVA_OPTS_KC_HEAP: '-Xms64m -Xmx768m',
          // C1 only: a test Keycloak needs a quick start, not peak throughput. It halves the boot
          // on a busy 2-core machine (measured 68 s → 31 s), the JIT being most of its CPU.
          JAVA_OPTS_APPEND: '-XX:TieredStopAtLevel=1',
        },
      },
    );
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    let exited: number | null | undefined;
    const done = new Promise<void>((resolve) =>
      child.once('exit', (code) => {
        exited = code;
        resolve();
      }),
    );
    const stop = async () => {
      if (exited === undefined && child.pid) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
        const killer = setTimeout(() => child.pid && process.kill(-child.pid, 'SIGKILL'), 10_000);
        await done;
        clearTimeout(killer);
      }
      await rm(home, { recursive: true, force: true });
    };
    const url = `http://127.0.0.1:${httpPort}`;
    const ready = await waitFor(
      async () => {
        if (exited !== undefined) return true;
        const health = await fetch(`http://127.0.0.1:${managementPort}/health/ready`).catch(() => undefined);
        if (health?.status !== 200) return false;
        const realm = await fetch(`${url}/realms/platform/.well-known/openid-configuration`).catch(() => undefined);
        return realm?.status === 200;
      },
      BOOT_TIMEOUT_MS,
      250,
    );
    if (!ready || exited !== undefined) {
      const tail = (await readFile(join(home, 'keycloak.log'), 'utf8').catch(() => '')).slice(-1500);
      await stop();
      const why = exited !== undefined ? `exited with ${exited}` : `not ready within ${BOOT_TIMEOUT_MS / 1000} s`;
      return { missing: `Keycloak ${KEYCLOAK_VERSION} did not start (${why}): ${tail}` };
    }
    await keepAugmentation(home, augmented);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    return {
      env: {
        STEPGATE_TEST_KEYCLOAK_URL: url,
        STEPGATE_TEST_KEYCLOAK_ADMIN_USER: ADMIN_USER,
        STEPGATE_TEST_KEYCLOAK_ADMIN_PASSWORD: password,
        STEPGATE_TEST_KEYCLOAK_MANAGEMENT_URL: `http://127.0.0.1:${managementPort}`,
      },
      note: `Keycloak ${KEYCLOAK_VERSION} started for this run on ${url} in ${seconds} s (realm platform)`,
      stop,
    };
  },
};
