import { setFlagsFromString } from "node:v8";

/**
 * V8 allocates objects straight into the old generation ("pretenures") at allocation sites
 * whose objects mostly survive. In the gateway, a request, its response and the response head
 * come from the same sites whether they belong to a stream (open for an hour) or to an API call
 * (done in a millisecond): once thousands of streams have survived, calls' objects land in the
 * old generation too, where, dead, they keep their young parts alive through every scavenge
 * until the next full GC. Measured with 10,000 streams and 500 publish calls/s
 * (`--trace-gc-nvp`): each scavenge copied 2.2–2.5 MB and paused 12–16 ms with pretenuring,
 * 0.7–0.8 MB and 3.3–5.5 ms without (docs/bench.md, item 18). Imported first by main.ts, before
 * any of those sites exist; the flag only steers the collector.
 */
setFlagsFromString("--no-allocation-site-pretenuring");
