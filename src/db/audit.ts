// Audit log of admin actions: who did what to whom, with details, when.
import { desc, eq } from 'drizzle-orm';
import type { Db } from './client.js';
import { auditLog, type AuditRow } from './schema.js';

export interface AuditEntry {
  actorId: string;
  /** Dotted verb, e.g. 'quota.grant', 'user.ban', 'guild.settings'. */
  action: string;
  targetId: string | null;
  details?: Record<string, unknown>;
}

export async function audit(db: Db, entry: AuditEntry): Promise<void> {
  await db.insert(auditLog).values({
    actorId: entry.actorId,
    action: entry.action,
    targetId: entry.targetId,
    details: entry.details ?? {},
  });
}

/** Newest first; only entries about `targetId` when given. */
export async function listAudit(db: Db, options: { limit: number; targetId?: string }): Promise<AuditRow[]> {
  const query = db.select().from(auditLog);
  const filtered = options.targetId === undefined ? query : query.where(eq(auditLog.targetId, options.targetId));
  return filtered.orderBy(desc(auditLog.id)).limit(options.limit);
}
