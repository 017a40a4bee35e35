/**
 * Test-wide environment: handlers log through Powertools, and many tests provoke errors on
 * purpose (failed capture writes, broken shadow models); keep their logs out of the test output
 * unless MLOOP_LOG_LEVEL asks for them.
 */
process.env.POWERTOOLS_LOG_LEVEL ??= process.env.MLOOP_LOG_LEVEL ?? 'SILENT';

export {};
