/** A small seeded PRNG (mulberry32): the same seed gives the same sequence on every target. */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One deterministic topic map for the topic fan-out scenario: `topics` topic names and, for each
 * of `streams` streams, `perStream` distinct topics drawn with a seeded PRNG. Both targets (the
 * gateway and the naive broadcaster) get this same map, and `holders` says how many streams a
 * publish to each topic reaches.
 */
export function topicAssignment({ streams, topics, perStream, seed }) {
  const random = seededRandom(seed);
  const names = Array.from({ length: topics }, (_, i) => `bench.topic-${i}`);
  const byStream = [];
  const holders = new Map(names.map((name) => [name, 0]));
  for (let i = 0; i < streams; i++) {
    const picked = new Set();
    while (picked.size < Math.min(perStream, topics)) picked.add(names[Math.floor(random() * topics)]);
    const list = [...picked];
    byStream.push(list);
    for (const name of list) holders.set(name, holders.get(name) + 1);
  }
  return { names, streams: byStream, holders };
}
