/** `1 lane`, `2 lanes`: what the command line prints of a count reads as English for one too
 *  (a small crossing has one lane; a backup may hold one other file). */
export function counted(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
