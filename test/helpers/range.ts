/** The integers first..last, inclusive (frame numbers of a range). */
export const range = (first: number, last: number): number[] =>
  Array.from({ length: last - first + 1 }, (_, i) => first + i);
