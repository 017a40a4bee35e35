/** The median of a bench's rounds (the upper middle of an even count): the machines are shared, so one round proves little. */
export function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
}
