import { FleetInvalid } from "../policy/validate";
import type { Io } from "./io";

/** A wrong call or unreadable input: the user can fix it, so no stack trace. */
export class InputError extends Error {}

/**
 * Bad input of any kind (an invalid fleet, a missing file, wrong options) becomes exit code 2 with
 * every error on stderr. Anything else is a bug and is rethrown.
 */
export function reportInputError(e: unknown, io: Io, program: string, usage: string): 2 {
  if (e instanceof FleetInvalid) {
    for (const line of e.errors) io.err(line);
    io.err(`invalid fleet: ${e.errors.length} error(s)`);
    return 2;
  }
  if (e instanceof InputError || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
    io.err(`${program}: ${(e as Error).message}`);
    io.err(usage);
    return 2;
  }
  throw e;
}
