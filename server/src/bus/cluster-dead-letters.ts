import { randomBytes } from "node:crypto";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { z } from "zod";
import type { DeadLetter, DeadLetters } from "./event-bus.js";

/** How long an admin call waits for the other instances' answers. */
const WAIT_MS = 500;
/** After an answer, how long to wait for more before answering with what came. */
const STALL_MS = 150;

const requestSchema = z.object({
  from: z.string().max(64),
  op: z.enum(["list", "retry", "drop"]),
  tenantId: z.string().min(1).max(256),
  id: z.string().max(64).optional(),
});
type Request = z.infer<typeof requestSchema>;

/**
 * Dead letters live where they were buried (in that instance's queue and publish journal); an
 * admin's call reaches whichever instance the load balancer picks. This asks every other
 * instance over core NATS (request, many replies) and merges: `list` shows the tenant's dead
 * letters of every instance, `retry` and `drop` reach the instance holding the letter.
 */
export class ClusterDeadLetters implements DeadLetters {
  private readonly instance = randomBytes(8).toString("hex");
  private subscription: Subscription | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subject: string,
    private readonly local: DeadLetters,
    private readonly onError: (error: unknown) => void,
  ) {}

  start(): void {
    this.subscription = this.nc.subscribe(this.subject, {
      callback: (error, message) => {
        if (error !== null || message.reply === undefined) return;
        let request: Request;
        try {
          request = requestSchema.parse(message.json());
        } catch {
          return;
        }
        if (request.from === this.instance) return;
        const reply = message.reply;
        void this.answerLocally(request).then(
          (answer) => {
            for (const part of this.parts(answer)) this.nc.publish(reply, part);
          },
          (answerError: unknown) => this.onError(answerError),
        );
      },
    });
  }

  stop(): void {
    this.subscription?.unsubscribe();
  }

  async list(tenantId: string): Promise<DeadLetter[]> {
    const letters = [...(await this.local.list(tenantId))];
    for (const answer of await this.ask({ op: "list", tenantId })) {
      if (Array.isArray(answer)) letters.push(...(answer as DeadLetter[]));
    }
    return letters.sort((a, b) => (a.failedAt < b.failedAt ? -1 : a.failedAt > b.failedAt ? 1 : 0));
  }

  async retry(tenantId: string, id: string): Promise<boolean> {
    if (await this.local.retry(tenantId, id)) return true;
    return (await this.ask({ op: "retry", tenantId, id })).includes(true);
  }

  async drop(tenantId: string, id: string): Promise<boolean> {
    if (await this.local.drop(tenantId, id)) return true;
    return (await this.ask({ op: "drop", tenantId, id })).includes(true);
  }

  /**
   * An answer as messages within the server's `max_payload`: a list of letters in several
   * replies when it is long, and a letter whose data alone is too large (the usual reason it
   * could not be published) with its `data` left out (`dataOmitted`: list it on its instance).
   */
  private parts(answer: unknown): string[] {
    if (!Array.isArray(answer)) return [JSON.stringify(answer)];
    const budget = Math.max(1024, (this.nc.info?.max_payload ?? 1_048_576) - 1024);
    const parts: string[] = [];
    let current: string[] = [];
    let size = 2;
    for (const letter of answer as DeadLetter[]) {
      let json = JSON.stringify(letter);
      if (json.length > budget) json = JSON.stringify({ ...letter, data: null, dataOmitted: true });
      if (size + json.length + 1 > budget && current.length > 0) {
        parts.push(`[${current.join(",")}]`);
        current = [];
        size = 2;
      }
      current.push(json);
      size += json.length + 1;
    }
    parts.push(`[${current.join(",")}]`);
    return parts;
  }

  private async answerLocally(request: Request): Promise<unknown> {
    if (request.op === "list") return this.local.list(request.tenantId);
    if (request.id === undefined) return false;
    return request.op === "retry"
      ? this.local.retry(request.tenantId, request.id)
      : this.local.drop(request.tenantId, request.id);
  }

  /** The other instances' answers; none when they are not reachable (the local answer stands). */
  private async ask(request: Omit<Request, "from">): Promise<unknown[]> {
    const answers: unknown[] = [];
    try {
      const replies = await this.nc.requestMany(this.subject, JSON.stringify({ ...request, from: this.instance }), {
        strategy: "stall",
        maxWait: WAIT_MS,
        stall: STALL_MS,
      });
      for await (const reply of replies) {
        try {
          answers.push(reply.json());
        } catch {
          // an answer that is not JSON counts as none
        }
      }
    } catch (error) {
      // "no responders": no other instance; anything else: answer with what this one knows.
      if (!(error instanceof Error && /no responders/i.test(error.message))) this.onError(error);
    }
    return answers;
  }
}
