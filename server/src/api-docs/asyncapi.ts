import {
  busMessageSchema,
  type EventDefinitions,
  encodeSubjectToken,
  eventEnvelopeSchema,
  eventEnvelopeSchemaFor,
  publishableEventTypeSchema,
  RESERVED_EVENT_TYPES,
  topicSchema,
} from "@circl-bff/shared";
import { z } from "zod";
import { componentNames, type JsonSchema, toDocumentSchema } from "./json-schema.js";
import type { ApiDocumentOptions } from "./openapi.js";
import { busHeadersSchema, connectedDataSchema, presenceDataSchema, resetDataSchema } from "./schemas.js";

const SCHEMA_REF = "#/components/schemas/";

const ENCODING =
  "Encoded with the injective subject-token encoding exported from `@circl-bff/shared` " +
  "(`encodeSubjectToken`): `[A-Za-z0-9-]` pass through unchanged; every other UTF-8 byte, `_` " +
  "included, becomes `_XX` (upper-case hex). So no id can put `.`, `*`, `>` or whitespace into a " +
  "subject, and two ids never share a token.";

/** Example tokens from the real encoder. */
const example = (id: string) => `\`${id}\` → \`${encodeSubjectToken(id)}\``;

/**
 * The AsyncAPI 3.0 document of the event stream (`GET /events/stream`, and `events.stream` on
 * tRPC, which yields the same envelopes) and of the NATS subjects backends publish on, built from
 * the catalog's zod schemas: one message per catalog type on each side, the generic envelope or
 * body, and the gateway's reserved types. Operations are seen from the gateway's clients: a
 * frontend receives on the stream, a backend sends on the subjects.
 */
export function buildAsyncApiDocument(options: ApiDocumentOptions): JsonSchema {
  const schemas: Record<string, JsonSchema> = {};
  const schema = (name: string, zodSchema: z.ZodType) => {
    schemas[name] = toDocumentSchema(
      zodSchema,
      { target: "draft-07", io: "output", owner: name, refBase: SCHEMA_REF },
      schemas,
    );
    return { $ref: `${SCHEMA_REF}${name}` };
  };
  const inputSchema = (name: string, zodSchema: z.ZodType) => {
    schemas[name] = toDocumentSchema(
      zodSchema,
      { target: "draft-07", io: "input", owner: name, refBase: SCHEMA_REF },
      schemas,
    );
    return { $ref: `${SCHEMA_REF}${name}` };
  };

  const types = Object.keys(options.catalog);
  const gatewayNames = ["Connected", "Reset", "PresenceJoin", "PresenceLeave", "Untyped"];
  const names = componentNames(types, gatewayNames);
  const messages: Record<string, JsonSchema> = {};
  const streamMessages: string[] = [];
  const busMessages: string[] = [];

  for (const type of types) {
    const definition = options.catalog[type] as EventDefinitions[string];
    const name = names.get(type) as string;
    const about = definition.description === undefined ? {} : { description: definition.description };
    messages[`${name}Envelope`] = {
      name: type,
      title: `${type} (stream)`,
      summary: `A \`${type}\` event as a stream delivers it.`,
      ...about,
      contentType: "application/json",
      payload: schema(`${name}Envelope`, eventEnvelopeSchemaFor(z.literal(type), definition.data)),
    };
    streamMessages.push(`${name}Envelope`);
    messages[`${name}BusMessage`] = {
      name: type,
      title: `${type} (NATS)`,
      summary: `A \`${type}\` event as a backend publishes it; \`data\` must match the schema or the message is skipped.`,
      ...about,
      contentType: "application/json",
      headers: schema("BusHeaders", busHeadersSchema),
      payload: inputSchema(
        `${name}BusMessage`,
        busMessageSchema.extend({ type: z.literal(type), data: definition.data }),
      ),
    };
    busMessages.push(`${name}BusMessage`);
  }

  if (!options.strictCatalog) {
    const untypedType = publishableEventTypeSchema.meta({
      description: "A type outside the catalog (and not reserved).",
      not: { enum: [...types, ...RESERVED_EVENT_TYPES] },
    });
    messages.UntypedEnvelope = {
      name: "untyped",
      title: "Event of a type outside the catalog (stream)",
      summary: "Any other type: `data` is any JSON.",
      contentType: "application/json",
      payload: schema("UntypedEnvelope", eventEnvelopeSchemaFor(untypedType, z.unknown())),
    };
    streamMessages.push("UntypedEnvelope");
    messages.UntypedBusMessage = {
      name: "untyped",
      title: "Event of a type outside the catalog (NATS)",
      summary: "Any other type: `data` is any JSON (refused when `EVENT_CATALOG_STRICT=true`).",
      contentType: "application/json",
      headers: schema("BusHeaders", busHeadersSchema),
      payload: inputSchema("UntypedBusMessage", busMessageSchema.extend({ type: untypedType })),
    };
    busMessages.push("UntypedBusMessage");
  }

  const gatewayMessages: [string, string, z.ZodType, string][] = [
    [
      "ConnectedEnvelope",
      "connected",
      connectedDataSchema,
      "First event of every stream, once it is attached: every event published after the client received it is delivered. Not a stream position (`id` empty).",
    ],
    [
      "ResetEnvelope",
      "reset",
      resetDataSchema,
      "The requested resume position could not be served (unknown, too old, another epoch): events may have been missed. `id` is the current head position; the stream continues live.",
    ],
    [
      "PresenceJoinEnvelope",
      "presence.join",
      presenceDataSchema,
      "With `presence`: a user's first stream on one of the stream's topics opened. Not a stream position, never replayed.",
    ],
    [
      "PresenceLeaveEnvelope",
      "presence.leave",
      presenceDataSchema,
      "With `presence`: a user's last stream on one of the stream's topics closed (or its instance died). Not a stream position, never replayed.",
    ],
  ];
  for (const [key, type, data, description] of gatewayMessages) {
    messages[key] = {
      name: type,
      title: `${type} (gateway)`,
      summary: `Sent by the gateway itself; \`${type}\` is reserved.`,
      description,
      contentType: "application/json",
      payload: schema(key, eventEnvelopeSchemaFor(z.literal(type), data)),
    };
    streamMessages.push(key);
  }
  schemas.EventEnvelope = {
    ...toDocumentSchema(
      eventEnvelopeSchema,
      { target: "draft-07", io: "output", owner: "EventEnvelope", refBase: SCHEMA_REF },
      schemas,
    ),
    description:
      "The envelope every stream event has, whatever its type (the messages above narrow `type` and `data`).",
  };

  const messageRefs = (keys: string[]) =>
    Object.fromEntries(keys.map((key) => [key, { $ref: `#/components/messages/${key}` }]));
  const operationMessages = (channel: string, keys: string[]) =>
    keys.map((key) => ({ $ref: `#/channels/${channel}/messages/${key}` }));

  const tenant = {
    description: `The tenant id. ${ENCODING}`,
    examples: [encodeSubjectToken("acme"), encodeSubjectToken("tenant_1")],
  };
  const topicExample = "order:42";
  const busChannel = (address: string, title: string, description: string, parameters: JsonSchema) => ({
    address,
    title,
    description: `${description} Body \`{type, data, correlationId?}\` as JSON, optionally with a \`Nats-Msg-Id\` header for de-duplication; the gateway fills in \`id\`, \`tenantId\`, \`userId\`/\`topic\` and \`timestamp\`. \`events.<tenant>.>\` covers everything of one tenant.`,
    servers: [{ $ref: "#/servers/nats" }],
    parameters,
    messages: messageRefs(busMessages),
  });

  const reserved = RESERVED_EVENT_TYPES.map((type) => `\`${type}\``).join(", ");
  return {
    asyncapi: "3.0.0",
    info: {
      title: "circl-bff events",
      version: options.version,
      description:
        "The events of the circl-bff gateway: what a stream delivers (`GET /events/stream`, and the tRPC " +
        "subscription `events.stream`, which yields the same envelopes) and what backends publish on NATS. " +
        "Operations are seen from the gateway's clients: a frontend receives on the stream, a backend sends " +
        `on the subjects. The types ${reserved} are reserved for the gateway. Generated at start-up from the ` +
        "event catalog's zod schemas; the HTTP routes are in `/openapi.json`.",
    },
    defaultContentType: "application/json",
    servers: {
      gateway: {
        host: "{host}",
        protocol: "http",
        description: "The gateway (`https` behind TLS).",
        variables: { host: { default: "localhost:3000", description: "The gateway's host and port." } },
      },
      nats: {
        host: "{host}",
        protocol: "nats",
        description: "The NATS cluster the gateway reads (`NATS_URL`); JetStream stream `NATS_STREAM` on `events.>`.",
        variables: { host: { default: "localhost:4222", description: "A NATS server's host and port." } },
      },
    },
    channels: {
      eventStream: {
        address: "/events/stream",
        title: "Event stream (Server-Sent Events)",
        description:
          "`GET /events/stream` with `Authorization: Bearer <access or stream token>` or `?token=<stream token>`; " +
          "`?types=`, `?topics=`, `?presence=1`; resume with `Last-Event-ID` or `?lastEventId=` (see `/openapi.json`). " +
          "First `retry: <ms>`, then frames `id: <envelope.id>` (absent where `id` is empty), `event: <envelope.type>`, " +
          "`data: <envelope JSON>`. Heartbeat (`ping`, reserved): a comment line `: ping <epoch ms>` on this route, " +
          "tRPC's own `ping` event on `events.stream`; neither is an event. A stream receives the user's personal " +
          "events, the tenant's broadcasts and the events of its topics, in one order, each once.",
        servers: [{ $ref: "#/servers/gateway" }],
        messages: messageRefs(streamMessages),
      },
      userEvents: busChannel(
        "events.{tenant}.user.{user}",
        "Personal events of one user",
        "Delivered to every stream of that user.",
        {
          tenant,
          user: {
            description: `The user id (\`sub\`). ${ENCODING} For example ${example("alice@example.com")}.`,
            examples: [encodeSubjectToken("alice@example.com")],
          },
        },
      ),
      tenantBroadcast: busChannel(
        "events.{tenant}.broadcast",
        "Broadcast to a tenant",
        "Delivered to every stream of the tenant.",
        { tenant },
      ),
      topicEvents: busChannel(
        "events.{tenant}.topic.{topic}",
        "Events of one topic",
        "Delivered to the tenant's streams that follow the topic (envelope `topic` set, no `userId`).",
        {
          tenant,
          topic: {
            description: `The topic (1-128 characters matching \`${(toDocumentSchema(topicSchema, { target: "draft-07", io: "input", owner: "_", refBase: SCHEMA_REF }, {}) as { pattern: string }).pattern}\`), encoded like ids: ${example(topicExample)}.`,
            examples: [encodeSubjectToken(topicExample)],
          },
        },
      ),
    },
    operations: {
      receiveEvents: {
        action: "receive",
        channel: { $ref: "#/channels/eventStream" },
        title: "Receive events",
        summary: "A frontend's stream of envelopes.",
        bindings: { http: { method: "GET", bindingVersion: "0.3.0" } },
        messages: operationMessages("eventStream", streamMessages),
      },
      sendUserEvent: {
        action: "send",
        channel: { $ref: "#/channels/userEvents" },
        title: "Send a personal event",
        messages: operationMessages("userEvents", busMessages),
      },
      sendTenantBroadcast: {
        action: "send",
        channel: { $ref: "#/channels/tenantBroadcast" },
        title: "Broadcast to a tenant",
        messages: operationMessages("tenantBroadcast", busMessages),
      },
      sendTopicEvent: {
        action: "send",
        channel: { $ref: "#/channels/topicEvents" },
        title: "Send a topic event",
        messages: operationMessages("topicEvents", busMessages),
      },
    },
    components: { schemas, messages },
  };
}
