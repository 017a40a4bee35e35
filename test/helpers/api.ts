/**
 * Shared by the API suites: a valid instance of each test model, and the check of an error answer
 * (status, error name, message, and a request id in every error body).
 */
import type { APIGatewayProxyResult } from 'aws-lambda';

/** A valid instance of the binary classification model trained on binaryClassificationCsv. */
export const clsInstance = (i = 0) => ({ x1: 0.5 - i * 0.1, x2: 9 + i, x3: 40, color: i % 2 ? 'red' : 'green' });
/** A valid instance of the regression model trained on regressionCsv. */
export const regInstance = (i = 0) => ({ area: 60 + i * 10, rooms: 3, age: 20, city: 'lyon' });

export interface ErrorBody {
  error: string;
  message: string;
  requestId: string;
  problems?: { index?: number; field?: string; message: string }[];
}

export async function expectError(
  response: Promise<APIGatewayProxyResult>,
  status: number,
  error: string,
  message: string | RegExp,
): Promise<ErrorBody> {
  const res = await response;
  const body = JSON.parse(res.body) as ErrorBody;
  expect({ status: res.statusCode, error: body.error }).toEqual({ status, error });
  if (typeof message === 'string') expect(body.message).toBe(message);
  else expect(body.message).toMatch(message);
  expect(typeof body.requestId).toBe('string');
  return body;
}
