import { describe, expect, it } from "vitest";
import { ConfigError, HostConfig, parseConfig } from "../../shared/config.ts";

describe("host configuration", () => {
  it("applies defaults", () => {
    expect(parseConfig(HostConfig, {})).toMatchObject({ APP_PORT: 3000, DAPR_HTTP_PORT: 3500, DELIVERY_MAX_ATTEMPTS: 8 });
  });

  it("stops with every bad value named", () => {
    const parse = () => parseConfig(HostConfig, { APP_PORT: "eighty", LOG_LEVEL: "loud" });
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(/APP_PORT/);
    expect(parse).toThrow(/LOG_LEVEL/);
  });
});
