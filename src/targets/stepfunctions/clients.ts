/**
 * The SFN clients of one target: @aws-sdk/client-sfn does SigV4, the credential chain, and
 * retries with back-off. Without `credentials`, one client on the SDK's default chain; with
 * `credentials.assumeRoleArn`, one client per caller session (see `assume-role.ts`), all sharing
 * one connection pool.
 *
 * Retries: StartExecution is idempotent by name, so the SDK's standard retries (throttling,
 * 5xx, time-outs) are safe. StartSyncExecution is not (an Express execution runs again), so a
 * sync target retries only throttling, which AWS answers before running anything.
 */
import { SFNClient, type SFNClientConfig } from '@aws-sdk/client-sfn';
import type { RetryErrorInfo, RetryStrategyV2, StandardRetryToken } from '@smithy/types';
import type { StepFunctionsTargetConfig } from '../../config/schema.ts';
import type { Identity } from '../../identity/types.ts';
import { createRoleSessions, type RoleSessions } from './assume-role.ts';

export interface ClientSource {
  forCaller(identity: Identity): Promise<SFNClient>;
  /** The gateway's own client (the SDK's credential chain), for listing. */
  readonly own: SFNClient;
  close(): void;
}

const MAX_ATTEMPTS = 3;

/** The SDK's standard strategy, refusing to retry anything but throttling. */
function retryOnlyThrottling(standard: () => Promise<unknown>): RetryStrategyV2 {
  let strategy: Promise<RetryStrategyV2> | undefined;
  const get = () => (strategy ??= standard() as Promise<RetryStrategyV2>);
  return {
    async acquireInitialRetryToken(scope: string) {
      return (await get()).acquireInitialRetryToken(scope);
    },
    async refreshRetryTokenForRetry(token: StandardRetryToken, info: RetryErrorInfo) {
      // Throwing here makes the SDK give up and report the call's own error.
      if (info.errorType !== 'THROTTLING')
        throw new Error('not retried: StartSyncExecution is not idempotent');
      return (await get()).refreshRetryTokenForRetry(token, info);
    },
    recordSuccess(token: StandardRetryToken) {
      void get().then((s) => s.recordSuccess(token));
    },
  };
}

export function createClientSource(
  config: StepFunctionsTargetConfig,
  overrides: Partial<SFNClientConfig> = {},
): ClientSource {
  const common: SFNClientConfig = {
    region: config.region,
    maxAttempts: MAX_ATTEMPTS,
    ...(config.endpoint
      ? // Custom endpoints have no `sync-` host for StartSyncExecution (Step Functions Local does the same).
        { endpoint: config.endpoint, disableHostPrefix: true }
      : {}),
    ...overrides,
  };
  const base = new SFNClient({
    ...common,
    requestHandler: {
      requestTimeout: config.timeoutMs,
      connectionTimeout: Math.min(config.timeoutMs, 5000),
      // Without this the handler only logs a warning when requestTimeout passes.
      throwOnRequestTimeout: true,
    },
  });
  const shared: SFNClientConfig = {
    ...common,
    requestHandler: base.config.requestHandler,
    ...(config.mode === 'sync' ? { retryStrategy: retryOnlyThrottling(base.config.retryStrategy) } : {}),
  };
  const defaultClient = config.mode === 'sync' ? new SFNClient(shared) : base;
  const credentials = config.credentials;
  const sessions: RoleSessions<SFNClient> | undefined = credentials
    ? createRoleSessions(
        {
          assumeRoleArn: credentials.assumeRoleArn,
          ...(credentials.sourceIdentity ? { sourceIdentity: credentials.sourceIdentity } : {}),
          ...(credentials.sessionTags ? { sessionTags: credentials.sessionTags } : {}),
          durationSeconds: credentials.durationSeconds,
          ...(credentials.stsEndpoint ? { stsEndpoint: credentials.stsEndpoint } : {}),
        },
        {
          region: config.region,
          timeoutMs: config.timeoutMs,
          make: (session) =>
            new SFNClient({
              ...shared,
              credentials: {
                accessKeyId: session.accessKeyId,
                secretAccessKey: session.secretAccessKey,
                sessionToken: session.sessionToken,
                expiration: session.expiration,
              },
            }),
        },
      )
    : undefined;
  return {
    forCaller: async (identity) => (sessions ? sessions.get(identity) : defaultClient),
    own: defaultClient,
    close() {
      sessions?.close();
      // The clients share `base`'s connection pool; destroying it ends every socket.
      base.destroy();
    },
  };
}
