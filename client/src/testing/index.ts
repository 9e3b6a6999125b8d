export { type DevTokenClaims, mintDevAccessToken } from "./dev-token.js";
export { expect, test } from "./fixtures.js";
export {
  type BffTestKit,
  type BffTestKitOptions,
  createBffTestKit,
  type EventMatch,
  type RecordedEvent,
  type TestUser,
} from "./test-kit.js";
