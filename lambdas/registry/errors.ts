/**
 * The named errors of the registry's admin actions (promote, rollback, approve, tag, archive...):
 * the CLI prints their one-line message, and a caller on AWS matches them by name.
 */
import { MloopError } from '../shared/errors';

export class VersionNotFound extends MloopError {
  constructor(message: string) {
    super('VersionNotFound', message);
  }
}

export class AliasNotFound extends MloopError {
  constructor(message: string) {
    super('AliasNotFound', message);
  }
}

/** Another writer moved the alias between our read and our conditional write. */
export class AliasConflict extends MloopError {
  constructor(message: string) {
    super('AliasConflict', message);
  }
}

/** The version is not in a state that allows the operation (promote a rejected version...). */
export class VersionStateInvalid extends MloopError {
  constructor(message: string) {
    super('VersionStateInvalid', message);
  }
}
