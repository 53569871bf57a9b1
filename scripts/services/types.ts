/**
 * A service the tests need beyond the project's own code (Redis, Chromium, Keycloak, …).
 * `npm test` (scripts/test.ts) starts every service at once, passes what each found to the tests
 * in the environment, and stops them after. Each service says what it found or why it is missing;
 * outside CI a missing service skips only the tests that need it, with CI=true it fails the run.
 */
export interface StartedService {
  /** Environment variables for the test processes (e.g. STEPGATE_TEST_REDIS_URL). */
  readonly env: Readonly<Record<string, string>>;
  /** One line for the run's header: what was found or started, and where. */
  readonly note: string;
  /** Stops what this run started (nothing when it used something already running). */
  stop?(): Promise<void> | void;
}

export interface MissingService {
  readonly missing: string;
}

export interface ServiceContext {
  /** The project root. */
  readonly root: string;
  /** Where downloads and builds are cached across runs (outside the repository). */
  readonly cacheDir: string;
  readonly inCi: boolean;
  say(line: string): void;
}

export interface Service {
  /** What the tests call it: "Redis", "Keycloak". */
  readonly name: string;
  /**
   * For a service that may take many minutes to be ready (a cold build): the test files whose
   * source matches run only once it is; every other file runs meanwhile.
   */
  readonly usedBy?: RegExp;
  start(context: ServiceContext): Promise<StartedService | MissingService>;
}

export const isMissing = (result: StartedService | MissingService): result is MissingService =>
  'missing' in result;
