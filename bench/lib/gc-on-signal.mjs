// Preloaded into every server (`--expose-gc --import`): SIGWINCH runs a full garbage collection,
// so the idle scenario compares memory that is retained, not garbage not yet collected.
process.on("SIGWINCH", () => globalThis.gc?.());
