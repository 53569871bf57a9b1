/**
 * A local STS for `credentials.assumeRoleArn`: AssumeRole over the AWS Query protocol (form body
 * in, XML out), with the limits STS puts on RoleSessionName, SourceIdentity and session tags, so
 * a gateway that sends anything STS would refuse fails here too. The credentials it issues are
 * accepted by the local Step Functions endpoint, which then knows who they stand for.
 * https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { AwsServiceError, type Principal } from './store.ts';

export interface IssuedCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken: string;
  readonly expiration: Date;
  readonly principal: Principal;
  readonly roleArn: string;
  readonly roleSessionName: string;
}

const NAME = /^[\w+=,.@-]{2,64}$/;
const TAG_KEY = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u;
const TAG_VALUE = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/([\w+=,.@/-]{1,64})$/;

function validation(message: string): AwsServiceError {
  return new AwsServiceError('ValidationError', message);
}

/** Parses and checks an AssumeRole request as STS does; returns the issued credentials. */
export function assumeRole(
  params: URLSearchParams,
  caller: Principal,
  options: { readonly allowedRoles?: readonly string[] },
): IssuedCredentials {
  const roleArn = params.get('RoleArn') ?? '';
  const role = ROLE_ARN.exec(roleArn);
  if (!role)
    throw validation(
      `1 validation error detected: Value '${roleArn}' at 'roleArn' failed to satisfy constraint`,
    );
  const sessionName = params.get('RoleSessionName') ?? '';
  if (!NAME.test(sessionName)) {
    throw validation(
      `1 validation error detected: Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint`,
    );
  }
  const sourceIdentity = params.get('SourceIdentity');
  if (sourceIdentity !== null) {
    if (!NAME.test(sourceIdentity)) {
      throw validation(
        `1 validation error detected: Value '${sourceIdentity}' at 'sourceIdentity' failed to satisfy constraint`,
      );
    }
    if (/^aws:/i.test(sourceIdentity)) throw validation('SourceIdentity cannot start with "aws:"');
  }
  const tags: Record<string, string> = {};
  const seen = new Set<string>();
  for (let i = 1; params.has(`Tags.member.${i}.Key`); i++) {
    if (i > 50) throw validation('Tags: at most 50 session tags');
    const key = params.get(`Tags.member.${i}.Key`)!;
    const value = params.get(`Tags.member.${i}.Value`) ?? '';
    if (!TAG_KEY.test(key))
      throw validation(`Value '${key}' at 'tags.${i}.member.key' failed to satisfy constraint`);
    if (!TAG_VALUE.test(value)) {
      throw validation(`Value '${value}' at 'tags.${i}.member.value' failed to satisfy constraint`);
    }
    // Tag keys are case-insensitive in IAM: two that differ only in case are a duplicate.
    if (seen.has(key.toLowerCase())) throw validation(`Duplicate tag keys found: ${key}`);
    seen.add(key.toLowerCase());
    tags[key] = value;
  }
  const duration = Number(params.get('DurationSeconds') ?? 3600);
  if (!Number.isInteger(duration) || duration < 900 || duration > 43_200) {
    throw validation(
      `Value '${params.get('DurationSeconds')}' at 'durationSeconds' failed to satisfy constraint`,
    );
  }
  if (options.allowedRoles && !options.allowedRoles.includes(roleArn)) {
    throw new AwsServiceError(
      'AccessDenied',
      `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
      403,
    );
  }
  const accountId = role[1]!;
  const roleName = role[2]!.split('/').pop()!;
  const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
  return {
    accessKeyId,
    secretAccessKey: randomBytes(30).toString('base64'),
    sessionToken: randomBytes(48).toString('base64'),
    expiration: new Date(Date.now() + duration * 1000),
    roleArn,
    roleSessionName: sessionName,
    principal: {
      arn: `arn:aws:sts::${accountId}:assumed-role/${roleName}/${sessionName}`,
      accessKeyId,
      ...(sourceIdentity === null ? {} : { sourceIdentity }),
      sessionTags: tags,
    },
  };
}

function xml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function assumeRoleXml(issued: IssuedCredentials): string {
  const p = issued.principal;
  return (
    '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>' +
    (p.sourceIdentity === undefined ? '' : `<SourceIdentity>${xml(p.sourceIdentity)}</SourceIdentity>`) +
    `<AssumedRoleUser><Arn>${xml(p.arn)}</Arn><AssumedRoleId>AROA${randomBytes(8).toString('hex').toUpperCase()}:${xml(issued.roleSessionName)}</AssumedRoleId></AssumedRoleUser>` +
    `<Credentials><AccessKeyId>${issued.accessKeyId}</AccessKeyId><SecretAccessKey>${xml(issued.secretAccessKey)}</SecretAccessKey>` +
    `<SessionToken>${xml(issued.sessionToken)}</SessionToken><Expiration>${issued.expiration.toISOString()}</Expiration></Credentials>` +
    '<PackedPolicySize>0</PackedPolicySize></AssumeRoleResult>' +
    `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></AssumeRoleResponse>`
  );
}

export function callerIdentityXml(principal: Principal, accountId: string): string {
  return (
    '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult>' +
    `<Arn>${xml(principal.arn)}</Arn><UserId>${xml(principal.accessKeyId)}</UserId><Account>${accountId}</Account>` +
    `</GetCallerIdentityResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`
  );
}

export function stsErrorXml(code: string, message: string): string {
  return (
    `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${xml(code)}</Code>` +
    `<Message>${xml(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`
  );
}
