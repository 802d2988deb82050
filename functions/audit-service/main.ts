import { parseConfig } from "../../shared/config.ts";
import { AUDIT_CONTAINER } from "../../shared/catalog/audit.ts";
import { CosmosConfig, openCosmosDatabase } from "../../shared/cosmos.ts";
import { runFunction } from "../../shared/host/run.ts";
import { auditService } from "./app.ts";
import { CosmosAuditLog } from "./audit-log.ts";

await runFunction(auditService, async ({ log }) => {
  const database = await openCosmosDatabase(parseConfig(CosmosConfig));
  const entries = await CosmosAuditLog.open(database);
  log.info({ database: database.id, container: AUDIT_CONTAINER.id }, "audit trail open");
  return { entries };
});
