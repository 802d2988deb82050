import { describe, expect, it } from "vitest";
import { KafkaAccessConfig, kafkaAccessOf } from "../../shared/kafka.ts";
import { ConfigError, parseConfig } from "../../shared/config.ts";

const access = (env: Record<string, string>) => kafkaAccessOf(parseConfig(KafkaAccessConfig, env));

describe("Kafka settings (KAFKA_*), as lag-dashboard and the dead-letter tool read them", () => {
  it("without SASL: brokers only, plaintext", () => {
    expect(access({ KAFKA_BROKERS: "a:9092, b:9092" })).toEqual({ brokers: ["a:9092", "b:9092"], ssl: false });
    expect(access({ KAFKA_BROKERS: "a:9092", KAFKA_SASL_MECHANISM: "none" })).toEqual({ brokers: ["a:9092"], ssl: false });
  });

  it("reads the values KEDA's TriggerAuthentication reads (ConfigMap kafka-auth): scram_sha256 over TLS (Redpanda)", () => {
    expect(
      access({ KAFKA_BROKERS: "seed:9092", KAFKA_SASL_MECHANISM: "scram_sha256", KAFKA_TLS: "enable", KAFKA_SASL_USERNAME: "u", KAFKA_SASL_PASSWORD: "p" }),
    ).toEqual({
      brokers: ["seed:9092"],
      ssl: true,
      sasl: { mechanism: "scram-sha-256", username: "u", password: "p" },
    });
    expect(
      access({ KAFKA_BROKERS: "seed:9092", KAFKA_SASL_MECHANISM: "SCRAM-SHA-512", KAFKA_TLS: "true", KAFKA_SASL_USERNAME: "u", KAFKA_SASL_PASSWORD: "p" }).sasl,
    ).toEqual({
      mechanism: "scram-sha-512",
      username: "u",
      password: "p",
    });
  });

  it("KEDA's plaintext is SASL/PLAIN (Confluent Cloud API keys)", () => {
    expect(
      access({ KAFKA_BROKERS: "pkc:9092", KAFKA_SASL_MECHANISM: "plaintext", KAFKA_TLS: "enable", KAFKA_SASL_USERNAME: "key", KAFKA_SASL_PASSWORD: "secret" }),
    ).toEqual({
      brokers: ["pkc:9092"],
      ssl: true,
      sasl: { mechanism: "plain", username: "key", password: "secret" },
    });
  });

  it("refuses an unknown mechanism, a TLS value it cannot read, and SASL without credentials, naming each", () => {
    expect(() => access({ KAFKA_BROKERS: "a:1", KAFKA_SASL_MECHANISM: "oauthbearer" })).toThrow(/KAFKA_SASL_MECHANISM: unknown SASL mechanism "oauthbearer"/);
    expect(() => access({ KAFKA_BROKERS: "a:1", KAFKA_TLS: "yes" })).toThrow(/KAFKA_TLS: "yes" is not true, false, enable or disable/);
    const missing = () => access({ KAFKA_BROKERS: "a:1", KAFKA_SASL_MECHANISM: "plain" });
    expect(missing).toThrow(ConfigError);
    expect(missing).toThrow(/KAFKA_SASL_USERNAME: required with KAFKA_SASL_MECHANISM=plain/);
    expect(missing).toThrow(/KAFKA_SASL_PASSWORD: required with KAFKA_SASL_MECHANISM=plain/);
    expect(() => access({})).toThrow(/KAFKA_BROKERS/);
  });
});
