import { checkEvent, describeIssues, type EventDefinitions } from "@circl-bff/shared";
import type { EventBus } from "../bus/event-bus.js";
import type { Metrics } from "../metrics.js";
import type { OperationEmitter } from "./operation-caller.js";

/**
 * The gateway announces a successful typed call itself: the operation's `emits` event goes to
 * the caller's tenant (key `{tenant}`) through the bus. No role rule applies (the gateway, not
 * the user, is the publisher); the event is checked against the catalog, and must be a type of
 * it, since the gateway's own events are always typed.
 */
export function createOperationEmitter(deps: {
  bus: EventBus;
  catalog: EventDefinitions;
  metrics: Metrics;
}): OperationEmitter {
  return async (call, output) => {
    const event = call.operation.emits?.(output, call.input ?? {});
    if (event === undefined) return;
    const check = checkEvent(deps.catalog, event.type, event.data, true);
    if (!check.ok) {
      call.log.error(
        {
          operation: call.name,
          type: event.type,
          problem: check.reason === "schema" ? describeIssues(check.issues) : check.message,
        },
        "operation event does not match the event catalog; not published",
      );
      return;
    }
    try {
      const result = await deps.bus.publish(
        { tenant: call.caller.identity.tenantId },
        { type: event.type, data: check.data, correlationId: call.caller.requestId },
      );
      deps.metrics.eventsPublished.labels(result.status).inc();
    } catch (error) {
      call.log.warn({ err: error, operation: call.name, type: event.type }, "operation event not published");
    }
  };
}
