// An environment variable set to the empty string counts as unset (config.ts and its parts).
export const emptyAsUndefined = (value: unknown): unknown => (value === '' ? undefined : value);
