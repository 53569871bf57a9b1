/**
 * What `stepgate --help` and `stepgate COMMAND --help` print: the usage of every command, and for
 * each one what it does, its options and its exit codes.
 */

export const USAGE = `usage:
  stepgate serve [--config FILE]
  stepgate check [--config FILE] [--online]
  stepgate explain [--config FILE] --method M --path P [--claims FILE.json | --token JWT] [--issuer NAME]
  stepgate policy test FILE [--config FILE]
  stepgate audit verify FILE [--key PUBLIC_KEY_FILE]
  stepgate export istio|envoy-gateway [--config FILE] [--strict]
  stepgate health [--url URL] [--config FILE]
  stepgate demo
  stepgate dev upstream|stepfunctions [--host HOST] [--port PORT]
  stepgate --version

--config defaults to $STEPGATE_CONFIG, else config/gateway.yaml.
stepgate COMMAND --help says more about a command.`;

const CONFIG = '  --config FILE   the config (default $STEPGATE_CONFIG, else config/gateway.yaml)';

/** Per command (the first word of argv). */
export const COMMAND_HELP: Readonly<Record<string, string>> = {
  serve: `usage: stepgate serve [--config FILE]

Runs the gateway on server.host:port and its admin listener (/healthz, /readyz, /metrics) on
admin.host:port. SIGHUP, or a change of the config file, reloads the config (the old one stays
on any error). SIGTERM or SIGINT stops accepting connections, lets requests in flight finish for
up to server.shutdownGraceMs, flushes the audit log and exits 0.

${CONFIG}

exit: 0 stopped by a signal; 2 the config is invalid`,
  check: `usage: stepgate check [--config FILE] [--online]

Validates a config and lists every problem with its key path (routes[1].alow: unknown key), then
warnings about a valid config that would misbehave in production (assertion.keys: not set).
With --online it also asks every issuer for its discovery document and keys (and, with sso or
introspection, checks the client's endpoints and credentials), one line per check.

${CONFIG}
  --online        also fetch every issuer's discovery document and keys

exit: 0 valid (warnings on stderr); 2 invalid, or an online check failed`,
  explain: `usage: stepgate explain [--config FILE] --method M --path P [--claims FILE.json | --token JWT] [--issuer NAME]

Prints the canonical path, the route, the caller and the decision with its reason, sending
nothing. --token decodes a token without checking its signature; without --claims or --token the
request is anonymous.

${CONFIG}
  --method M      the request method
  --path P        the request path (and query)
  --claims FILE   a JSON file of token claims
  --token JWT     a token whose claims to use (not verified)
  --issuer NAME   the issuer the claims come from (default: the one whose URL is their iss)

exit: 0 allow; 1 deny; 2 usage or an invalid config`,
  policy: `usage: stepgate policy test FILE [--config FILE]

Runs policy fixtures (claims × method × path → expected decision and reason) against a config;
meant for CI.

${CONFIG}

exit: 0 every case passes; 1 a mismatch (want and got printed); 2 the file or config is unusable`,
  audit: `usage: stepgate audit verify FILE [--key PUBLIC_KEY_FILE]

Checks an audit file's hash chain and its signed checkpoints, and prints the first broken line:
an edited, removed or reordered line, a rewritten stretch, or lines cut from the end.

  --key FILE      the checkpoint key's public half (PEM or JWK, Ed25519): checks the signatures

exit: 0 intact; 1 broken; 2 the file or the key cannot be read`,
  export: `usage: stepgate export istio|envoy-gateway [--config FILE] [--strict]

Writes the policies as Istio RequestAuthentication + AuthorizationPolicy objects, or an Envoy
Gateway SecurityPolicy, as YAML on stdout, and lists on stderr, per route, what they cannot carry
(left out by refusing, never by allowing more). See docs/mesh.md.

${CONFIG}
  --strict        exit 1 when anything was left out

exit: 0 written; 1 with --strict when something was left out; 2 usage or an invalid config`,
  health: `usage: stepgate health [--url URL] [--config FILE]

Asks a running gateway's admin /readyz whether it is ready: for a container HEALTHCHECK and exec
probes. Without --url the address is the config's admin listener (0.0.0.0 asked as 127.0.0.1).

  --url URL       the admin listener (http://127.0.0.1:9090, /readyz is added) or a full URL
${CONFIG}

exit: 0 ready (HTTP 200); 1 not ready or not reachable within 5 s; 2 usage or an invalid config`,
  demo: `usage: stepgate demo

Starts an embedded OpenID provider, a demo upstream, a local Step Functions endpoint and the
gateway on config/demo.yaml, and prints curl lines that work as printed. Ctrl-C stops it.

exit: 0 stopped; 2 an address is in use (the message names the variable that moves it)`,
  dev: `usage: stepgate dev upstream|stepfunctions [--host HOST] [--port PORT]

Runs one part of the demo stack on its own (docker-compose.yml runs each as a service):
  upstream        an HTTP server that answers every request with what it received (default port 3000)
  stepfunctions   the local Step Functions endpoint with the demo's "deploy" state machine, SigV4
                  checked against the demo's keys (AKIASTEPGATEDEMO0001), and GET /healthz
                  (default port 8083)

  --host HOST     the address to listen on (default 127.0.0.1; 0.0.0.0 in a container)
  --port PORT     the port (0: a free one); the URL is printed once listening
  --region R, --account ID   stepfunctions only (default us-east-1, 123456789012)

exit: 0 stopped by SIGTERM or SIGINT; 2 usage`,
};
