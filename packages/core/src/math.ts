// Exact integer helpers. Inputs are non-negative safe integers whose products were
// bounded when the policy was built, so every intermediate value stays below 2^53.

/** floor(a / b) for integers a >= 0, b > 0, corrected for floating-point rounding. */
export function floorDiv(a: number, b: number): number {
  let q = Math.floor(a / b)
  if (q * b > a) q -= 1
  else if ((q + 1) * b <= a) q += 1
  return q
}

/** ceil(a / b) for integers a >= 0, b > 0. */
export function ceilDiv(a: number, b: number): number {
  const q = floorDiv(a, b)
  return q * b === a ? q : q + 1
}
