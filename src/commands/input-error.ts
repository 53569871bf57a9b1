/**
 * An input the CLI cannot use: an unreadable or malformed claims file, token or fixtures file, a
 * name the config does not know. `stepgate` prints the message (without the usage text, which
 * would bury it) and exits 2, as it does for an invalid config.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
}
