// Audit log of admin actions: who did what to whom, with details, when.
import { desc, eq, sql } from 'drizzle-orm';
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

/**
 * Records the entry unless the same actor already has one with this action and these
 * details' `command` within `windowMs`: repeated refusals cannot grow the log without limit.
 * Concurrent calls for the same key wait for each other (a transaction-scoped advisory lock),
 * so a burst writes one row. Returns whether it wrote a row.
 */
export async function auditOnce(
  db: Db,
  entry: AuditEntry & { details: { command: string } & Record<string, unknown> },
  windowMs: number,
): Promise<boolean> {
  return db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtext(${`audit:${entry.actorId}:${entry.action}:${entry.details.command}`}))`);
    const written = await tx.execute(sql`
      insert into audit_log (actor_id, action, target_id, details)
      select ${entry.actorId}, ${entry.action}, ${entry.targetId}, ${JSON.stringify(entry.details)}::jsonb
      where not exists (
        select 1 from audit_log where actor_id = ${entry.actorId} and action = ${entry.action}
          and details->>'command' = ${entry.details.command} and created_at > now() - ${windowMs}::int * interval '1 millisecond')
      returning id`);
    return written.length > 0;
  });
}

/** Newest first; only entries about `targetId` when given. */
export async function listAudit(db: Db, options: { limit: number; targetId?: string }): Promise<AuditRow[]> {
  const query = db.select().from(auditLog);
  const filtered = options.targetId === undefined ? query : query.where(eq(auditLog.targetId, options.targetId));
  return filtered.orderBy(desc(auditLog.id)).limit(options.limit);
}
