// The one order of slugs the API promises ("sorted by slug"): by UTF-16 code unit, as `<` compares,
// so every list sorts the same way whatever the locale.
export function bySlug(a: { slug: string }, b: { slug: string }): number {
  return a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0;
}
