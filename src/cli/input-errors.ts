import { FleetInvalid } from "../policy/validate";
import { FleetSourceError } from "../source/fleet-module";
import type { Io } from "./io";

/** A wrong call (options, arguments): the user can fix it, so no stack trace, and the usage once. */
export class InputError extends Error {}

/**
 * Bad input of any kind becomes exit code 2: an invalid fleet prints every error, a fleet source
 * that cannot be read or loaded its one message, a wrong call its message and the command's usage.
 * Anything else is a bug and is rethrown.
 */
export function reportInputError(e: unknown, io: Io, program: string, usage: string): 2 {
  if (e instanceof FleetInvalid) {
    for (const line of e.errors) io.err(line);
    io.err(`invalid fleet: ${e.errors.length} error(s)`);
    return 2;
  }
  if (e instanceof FleetSourceError) {
    io.err(e.message);
    return 2;
  }
  if (e instanceof InputError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
    io.err(`${program}: ${(e as Error).message}`);
    io.err(usage);
    return 2;
  }
  throw e;
}
