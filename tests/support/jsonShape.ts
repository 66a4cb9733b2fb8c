// Compares the shape of two JSON values (fields, types, and, when asked, array lengths), not their
// values: times, ids and positions differ from run to run, the shape of an answer does not.

/** Where `actual` differs in shape from `expected`; null in either stands for any type. */
export function shapeDifferences(expected: unknown, actual: unknown, options: { sameLength?: boolean } = {}, at = '$'): string[] {
  if (expected === null || actual === null) return [];
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if (options.sameLength && expected.length !== actual.length) return [`${at}: ${actual.length} elements where ${expected.length} are shown`];
    if (expected.length === 0) return actual.length === 0 ? [] : [`${at}: no elements are shown`];
    return actual.flatMap((element, index) => {
      const candidates = options.sameLength ? [expected[index]] : expected;
      const fits = candidates.map((shown) => shapeDifferences(shown, element, options, `${at}[${index}]`));
      return fits.some((differences) => differences.length === 0) ? [] : fits[0]!;
    });
  }
  if (typeof expected !== typeof actual || Array.isArray(expected) !== Array.isArray(actual)) {
    return [`${at}: ${JSON.stringify(actual)} where ${JSON.stringify(expected)} is shown`];
  }
  if (typeof expected !== 'object') return [];
  const shown = expected as Record<string, unknown>;
  const given = actual as Record<string, unknown>;
  return [...new Set([...Object.keys(shown), ...Object.keys(given)])].flatMap((key) => {
    if (!(key in shown)) return [`${at}.${key}: not shown`];
    // Without sameLength an optional field (a check's detail) may be absent.
    if (!(key in given)) return options.sameLength ? [`${at}.${key}: shown, but not in the answer`] : [];
    return shapeDifferences(shown[key], given[key], options, `${at}.${key}`);
  });
}
