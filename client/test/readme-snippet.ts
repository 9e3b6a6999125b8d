import { readFileSync } from "node:fs";

const readme = new URL("../../README.md", import.meta.url);

/** The README's client snippet: the fenced block between its `client-snippet` markers, as printed. */
export function readmeClientSnippet(): string {
  const text = readFileSync(readme, "utf8");
  const match = /<!-- client-snippet:start -->\s*```ts\n([\s\S]*?)```\s*<!-- client-snippet:end -->/.exec(text);
  if (match?.[1] === undefined) throw new Error("README.md has no client-snippet block");
  return match[1];
}

/** What the snippet leaves to its reader: declared for a type check of the block as printed. */
export const SNIPPET_FREE_VARIABLES = `declare const gatewayUrl: string;
declare const accessToken: string;
declare function refetch(): void;
`;
