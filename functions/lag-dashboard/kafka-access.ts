/**
 * How the dashboard's Kafka admin client reaches the brokers: the same cluster and credentials as
 * the functions' pub/sub component. In clusters the settings come from the objects KEDA's
 * TriggerAuthentication reads too (docs/deploy.md): the Secret kafka-credentials (username,
 * password) and the ConfigMap kafka-auth (sasl, tls), so KEDA's spellings are accepted as well as
 * the usual ones.
 */
import type { SASLOptions } from "kafkajs";
import { z } from "zod";

/** SASL mechanisms, by every name they go by here, to kafkajs's name. */
const MECHANISMS = {
  plain: "plain",
  plaintext: "plain", // KEDA's name for SASL/PLAIN (Confluent Cloud API keys)
  "scram-sha-256": "scram-sha-256",
  scram_sha256: "scram-sha-256",
  "scram-sha-512": "scram-sha-512",
  scram_sha512: "scram-sha-512",
} as const;
type Mechanism = (typeof MECHANISMS)[keyof typeof MECHANISMS];

const isMechanismName = (name: string): name is keyof typeof MECHANISMS => Object.hasOwn(MECHANISMS, name);

/** true/false, or KEDA's enable/disable. */
const TLS_VALUES: Readonly<Record<string, boolean>> = { true: true, enable: true, false: false, disable: false };

export const KafkaAccessConfig = z
  .object({
    /** host:port[,host:port…] of the cluster the pub/sub component uses. */
    KAFKA_BROKERS: z.string().min(1),
    /** plain | scram-sha-256 | scram-sha-512 (or KEDA's plaintext | scram_sha256 | scram_sha512); none or unset: no SASL. */
    KAFKA_SASL_MECHANISM: z
      .string()
      .trim()
      .toLowerCase()
      .optional()
      .transform((value, ctx): Mechanism | undefined => {
        if (value === undefined || value === "" || value === "none") return undefined;
        if (isMechanismName(value)) return MECHANISMS[value];
        ctx.addIssue({ code: "custom", message: `unknown SASL mechanism "${value}" (plain, scram-sha-256 or scram-sha-512)` });
        return z.NEVER;
      }),
    KAFKA_SASL_USERNAME: z.string().min(1).optional(),
    KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
    /** TLS to the brokers: true/false (or KEDA's enable/disable). Managed clusters need it. */
    KAFKA_TLS: z
      .string()
      .trim()
      .toLowerCase()
      .default("false")
      .transform((value, ctx): boolean => {
        const tls = TLS_VALUES[value];
        if (tls !== undefined) return tls;
        ctx.addIssue({ code: "custom", message: `"${value}" is not true, false, enable or disable` });
        return z.NEVER;
      }),
  })
  .superRefine((config, ctx) => {
    if (!config.KAFKA_SASL_MECHANISM) return;
    for (const key of ["KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"] as const) {
      if (!config[key]) ctx.addIssue({ code: "custom", path: [key], message: `required with KAFKA_SASL_MECHANISM=${config.KAFKA_SASL_MECHANISM}` });
    }
  });
export type KafkaAccessConfig = z.output<typeof KafkaAccessConfig>;

/** What the Kafka client is given: brokers, TLS on or off, SASL credentials if any. */
export interface KafkaAccess {
  brokers: string[];
  ssl: boolean;
  sasl?: SASLOptions;
}

const saslOf = (mechanism: Mechanism, username: string, password: string): SASLOptions =>
  // Two branches so each literal matches its kafkajs type (PLAIN or SCRAM).
  mechanism === "plain" ? { mechanism, username, password } : { mechanism, username, password };

export const kafkaAccessOf = (config: KafkaAccessConfig): KafkaAccess => {
  const brokers = config.KAFKA_BROKERS.split(",").map((b) => b.trim()).filter((b) => b !== "");
  const mechanism = config.KAFKA_SASL_MECHANISM;
  return {
    brokers,
    ssl: config.KAFKA_TLS,
    ...(mechanism ? { sasl: saslOf(mechanism, config.KAFKA_SASL_USERNAME ?? "", config.KAFKA_SASL_PASSWORD ?? "") } : {}),
  };
};
