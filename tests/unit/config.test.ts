import { describe, expect, it } from "vitest";
import { ConfigError, HostConfig, parseConfig } from "../../shared/config.ts";

describe("host configuration", () => {
  it("applies defaults", () => {
    expect(parseConfig(HostConfig, { APP_API_TOKEN: "a-token-of-16-chars-or-more" })).toMatchObject({
      APP_PORT: 3000,
      PUBLIC_PORT: 8080,
      DAPR_HTTP_PORT: 3500,
      DELIVERY_MAX_ATTEMPTS: 8,
    });
  });

  it("refuses to start without the sidecar's app token, naming the setting", () => {
    expect(() => parseConfig(HostConfig, {})).toThrow(/APP_API_TOKEN: required/);
    expect(() => parseConfig(HostConfig, { APP_API_TOKEN: "short" })).toThrow(/APP_API_TOKEN: at least 16 characters/);
  });

  it("stops with every bad value named", () => {
    const parse = () => parseConfig(HostConfig, { APP_PORT: "eighty", LOG_LEVEL: "loud" });
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(/APP_PORT/);
    expect(parse).toThrow(/LOG_LEVEL/);
  });
});
