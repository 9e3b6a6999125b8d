import {
  type EventDefinitions,
  eventTypeSchema,
  publishableEventTypeSchema,
  publishInputSchema,
  publishResultSchema,
  RESERVED_EVENT_TYPES,
  streamTokenResultSchema,
  topicSchema,
} from "@circl-bff/shared";
import { z } from "zod";
import { STREAM_QUERY_SCHEMA } from "../http/stream-route.js";
import { componentNames, type JsonSchema, toDocumentSchema } from "./json-schema.js";
import { errorBodySchema, healthSchema, readySchema } from "./schemas.js";

export type ApiDocumentOptions = {
  /** The project's event catalog (`eventCatalog` of `@circl-bff/shared`). */
  catalog: EventDefinitions;
  /** `EVENT_CATALOG_STRICT`: types outside the catalog are refused, so not documented. */
  strictCatalog: boolean;
  /** The gateway's version (`info.version`). */
  version: string;
};

const REF = "#/components/schemas/";
const ERROR_STATUSES = {
  400: "Invalid input: the message says what, `issues` lists the zod issues of a refused body.",
  401: "Missing, invalid or expired credential.",
  403: 'Not allowed: `to: "tenant"` without the `admin` role, or a topic not granted.',
  413: "The body or the event is larger than the gateway accepts.",
  415: "The body is not `application/json`.",
  429: "Rate limited (or, on the stream, too many open streams for this user); see `Retry-After`.",
  503: "The bus or a dependency is briefly unavailable (or the server is overloaded); see `Retry-After`.",
} as const;
type ErrorStatus = keyof typeof ERROR_STATUSES;

const errorResponses = (...statuses: ErrorStatus[]) =>
  Object.fromEntries(statuses.map((status) => [String(status), { $ref: `#/components/responses/Error${status}` }]));

const json = (schema: JsonSchema) => ({ "application/json": { schema } });

/**
 * The OpenAPI 3.1 document of the gateway's own HTTP routes (contract sections 5 and 12), built
 * from the zod schemas the routes validate with: `POST /events/publish`'s body is a `oneOf` of one
 * schema per catalog type (`type` constant, `data` that type's schema) and, unless the catalog is
 * strict, the untyped form for every other type.
 */
export function buildOpenApiDocument(options: ApiDocumentOptions): JsonSchema {
  const schemas: Record<string, JsonSchema> = {};
  const add = (name: string, schema: z.ZodType, io: "input" | "output") => {
    schemas[name] = toDocumentSchema(schema, { target: "draft-2020-12", io, owner: name, refBase: REF }, schemas);
    return { $ref: `${REF}${name}` };
  };

  const types = Object.keys(options.catalog);
  const names = componentNames(types, ["Untyped"]);
  const variants = types.map((type) => {
    const definition = options.catalog[type] as EventDefinitions[string];
    const variant = publishInputSchema
      .extend({ type: z.literal(type), data: definition.data })
      .meta({ title: type, ...(definition.description === undefined ? {} : { description: definition.description }) });
    return add(`${names.get(type)}PublishInput`, variant, "input");
  });
  if (!options.strictCatalog) {
    const untyped = publishInputSchema
      .extend({
        type: publishableEventTypeSchema.meta({
          description: `Any type outside the catalog (and not reserved: ${RESERVED_EVENT_TYPES.join(", ")}).`,
          not: { enum: [...types, ...RESERVED_EVENT_TYPES] },
        }),
      })
      .meta({
        title: "untyped event",
        description: "An event of a type the catalog does not define: `data` is any JSON.",
      });
    variants.push(add("UntypedPublishInput", untyped, "input"));
  }
  schemas.PublishInput = {
    description:
      "What `events.publish` takes: one form per catalog type, `data` checked against its schema" +
      (options.strictCatalog ? " (the catalog is strict: other types are refused)." : ", and the untyped form."),
    oneOf: variants,
  };
  const publishInput = { $ref: `${REF}PublishInput` };
  const publishResult = add("PublishResult", publishResultSchema, "output");
  const streamTokenResult = add("StreamTokenResult", streamTokenResultSchema, "output");
  const errorBody = add("ErrorBody", errorBodySchema, "output");
  const health = add("Health", healthSchema, "output");
  const ready = add("Ready", readySchema, "output");

  const retryAfter = {
    "Retry-After": { description: "Seconds to wait before retrying.", schema: { type: "integer", minimum: 0 } },
  };
  const responses = Object.fromEntries(
    Object.keys(ERROR_STATUSES)
      .map((key) => Number(key) as ErrorStatus)
      .map((status) => [
        `Error${status}`,
        {
          description: ERROR_STATUSES[status],
          ...(status === 429 || status === 503 ? { headers: retryAfter } : {}),
          content: json(errorBody),
        },
      ]),
  );

  const query = STREAM_QUERY_SCHEMA.properties;
  /** "1-128 characters matching `^...$`", from the zod schema each list item is checked with. */
  const eachOne = (schema: z.ZodType) => {
    const item = toDocumentSchema(schema, { target: "draft-2020-12", io: "input", owner: "_", refBase: REF }, {});
    return `Each one: ${item.minLength}-${item.maxLength} characters matching \`${item.pattern}\`.`;
  };
  const bearer = [{ bearerAuth: [] }];

  return {
    openapi: "3.1.0",
    info: {
      title: "circl-bff gateway",
      version: options.version,
      description:
        "The gateway's own HTTP routes. Events arrive on `GET /events/stream` (Server-Sent Events); " +
        "their shapes, and the NATS subjects backends publish on, are in the AsyncAPI document at `/asyncapi.json`. " +
        "Generated at start-up from the zod schemas the gateway validates with.",
    },
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    tags: [
      { name: "events", description: "Publishing and streaming events." },
      { name: "ops", description: "Health, readiness and metrics." },
    ],
    paths: {
      "/events/token": {
        post: {
          operationId: "createStreamToken",
          tags: ["events"],
          summary: "Trade an access token for a short-lived stream token",
          description: "The stream token is accepted on `GET /events/stream` only, also as `?token=`.",
          security: bearer,
          responses: {
            "200": { description: "A stream token.", content: json(streamTokenResult) },
            ...errorResponses(401, 429),
          },
        },
      },
      "/events/publish": {
        post: {
          operationId: "publishEvent",
          tags: ["events"],
          summary: "Publish an event (`events.publish` without tRPC)",
          description:
            '`to`: `"me"` (the caller\'s streams), `"tenant"` (every stream of the tenant; role `admin`) or ' +
            "`{topic}` (a granted topic). The same `idempotencyKey` from the same user within 2 minutes " +
            "publishes once; later calls answer `duplicate`.",
          security: bearer,
          parameters: [
            {
              name: "Idempotency-Key",
              in: "header",
              required: false,
              description: "Instead of `idempotencyKey` in the body (both: they must be equal).",
              schema: { type: "string", minLength: 1, maxLength: 128 },
            },
          ],
          requestBody: { required: true, content: json(publishInput) },
          responses: {
            "200": {
              description: "`published` (with the event's stream position `id`), `duplicate` or `queued`.",
              content: json(publishResult),
            },
            ...errorResponses(400, 401, 403, 413, 415, 429, 503),
          },
        },
      },
      "/events/stream": {
        get: {
          operationId: "openEventStream",
          tags: ["events"],
          summary: "The event stream (Server-Sent Events)",
          description:
            "First `retry: <ms>` and a `connected` event, then one frame per event: `id: <event id>`, " +
            "`event: <type>`, `data: <EventEnvelope JSON>`; a comment `: ping <epoch ms>` as heartbeat. " +
            "Resume with `Last-Event-ID` (or `?lastEventId=`): every event after it, or one `reset`. " +
            "The envelopes, typed per catalog type, are in `/asyncapi.json`.",
          security: [{ bearerAuth: [] }, { streamToken: [] }],
          parameters: [
            {
              name: "token",
              in: "query",
              required: false,
              description:
                "A stream token (`POST /events/token`), for `EventSource`, which cannot set headers. Never an access token.",
              schema: query.token,
            },
            {
              name: "lastEventId",
              in: "query",
              required: false,
              description: "Resume after this event id (the `Last-Event-ID` header wins).",
              schema: query.lastEventId,
            },
            {
              name: "types",
              in: "query",
              required: false,
              description: `Comma-separated event types to receive (default: all). ${eachOne(eventTypeSchema)}`,
              schema: query.types,
            },
            {
              name: "topics",
              in: "query",
              required: false,
              description: `Comma-separated topics to follow besides personal and tenant events; each must be granted. ${eachOne(topicSchema)}`,
              schema: query.topics,
            },
            {
              name: "presence",
              in: "query",
              required: false,
              description: "`1`/`true`: also receive `presence.join` / `presence.leave` of those topics.",
              schema: query.presence,
            },
            {
              name: "Last-Event-ID",
              in: "header",
              required: false,
              description: "Resume after this event id (browsers' `EventSource` sends it on reconnect).",
              schema: { type: "string", maxLength: 256 },
            },
          ],
          responses: {
            "200": {
              description:
                "The stream; it stays open until the credential expires, the client leaves or `SSE_MAX_CONNECTION_MS` passes.",
              content: {
                "text/event-stream": {
                  schema: { type: "string", description: "SSE frames; see `/asyncapi.json` for the events." },
                },
              },
            },
            ...errorResponses(400, 401, 403, 429, 503),
          },
        },
      },
      "/health": {
        get: {
          operationId: "getHealth",
          tags: ["ops"],
          summary: "Liveness",
          security: [],
          responses: { "200": { description: "The process runs.", content: json(health) } },
        },
      },
      "/ready": {
        get: {
          operationId: "getReady",
          tags: ["ops"],
          summary: "Readiness: the bus is connected",
          security: [],
          responses: {
            "200": { description: "Ready.", content: json(ready) },
            "503": { description: "Not ready (the bus is not connected).", content: json(ready) },
          },
        },
      },
      "/metrics": {
        get: {
          operationId: "getMetrics",
          tags: ["ops"],
          summary: "Prometheus metrics",
          description: "When `METRICS_TOKEN` is set it requires `Authorization: Bearer <METRICS_TOKEN>`.",
          security: [{}, { metricsToken: [] }],
          responses: {
            "200": {
              description: "Prometheus text format.",
              content: { "text/plain": { schema: { type: "string" } } },
            },
            ...errorResponses(401),
          },
        },
      },
    },
    components: {
      schemas,
      responses,
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description: "An access token of the identity provider (`sub`, tenant claim, `exp`).",
        },
        streamToken: {
          type: "apiKey",
          in: "query",
          name: "token",
          description: "A stream token from `POST /events/token` (the stream only).",
        },
        metricsToken: {
          type: "http",
          scheme: "bearer",
          description: "`METRICS_TOKEN`, when set.",
        },
      },
    },
  };
}
