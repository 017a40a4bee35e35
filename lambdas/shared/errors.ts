/**
 * Named errors. Step Functions matches `Retry` and `Catch` on the error's name, and the API maps
 * them to status codes, so each class sets `name` explicitly (minifiers rename classes).
 */
export class MloopError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** A dataset failed validation; it is kept, quarantined and recorded as rejected. */
export class DatasetRejected extends MloopError {
  constructor(message: string) {
    super('DatasetRejected', message);
  }
}

/** A key or event that the pipeline cannot route to a model. */
export class InvalidInput extends MloopError {
  constructor(message: string) {
    super('InvalidInput', message);
  }
}

export class ModelNotFound extends MloopError {
  constructor(message: string) {
    super('ModelNotFound', message);
  }
}

/** A model artifact that cannot be used: missing file, unreadable card, ONNX that does not load. */
export class ModelArtifactInvalid extends MloopError {
  constructor(message: string) {
    super('ModelArtifactInvalid', message);
  }
}

/** A prediction request that does not match the model's schema. */
export class RequestInvalid extends MloopError {
  constructor(
    message: string,
    readonly problems: { index?: number; field?: string; message: string }[] = [],
  ) {
    super('RequestInvalid', message);
  }
}

/** The environment a handler was started with does not satisfy its contract. */
export class EnvironmentInvalid extends MloopError {
  constructor(message: string) {
    super('EnvironmentInvalid', message);
  }
}

/** A prediction response larger than a Lambda response may be (the API answers 413). */
export class ResponseTooLarge extends MloopError {
  constructor(
    message: string,
    readonly responseBytes: number,
    readonly limitBytes: number,
  ) {
    super('ResponseTooLarge', message);
  }
}

/**
 * A run waited for its model's training slot longer than its bound (TRAINING_SLOT_WAIT_SECONDS):
 * it ends failed, with this reason in its run record, before the execution's timeout would end it.
 */
export class TrainingSlotWaitExceeded extends MloopError {
  constructor(message: string) {
    super('TrainingSlotWaitExceeded', message);
  }
}

/** A batch file that cannot be scored as a whole (its key, its metadata, its format); rows that fail are rejected, not this. */
export class BatchInputInvalid extends MloopError {
  constructor(message: string) {
    super('BatchInputInvalid', message);
  }
}
