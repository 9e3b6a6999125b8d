import { z } from "zod";
import { defineEvents } from "../catalog/define-events.js";

/** What the demo page's publish box sends. */
export const demoEvents = defineEvents({
  "demo.message": {
    description: "A chat-style text message, published by the demo page.",
    data: z.object({ text: z.string().min(1).max(2000) }),
  },
});
