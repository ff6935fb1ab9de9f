CREATE TABLE "guild_bans" (
	"guild_id" text NOT NULL,
	"user_id" text NOT NULL,
	"reason" text DEFAULT '' NOT NULL,
	"banned_by" text NOT NULL,
	"banned_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "guild_bans_pkey" PRIMARY KEY("guild_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "guild_quotas" (
	"guild_id" text NOT NULL,
	"user_id" text NOT NULL,
	"custom_limit" integer,
	"used" integer DEFAULT 0 NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"resets_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "guild_quotas_pkey" PRIMARY KEY("guild_id","user_id"),
	CONSTRAINT "guild_quotas_used_nonnegative" CHECK ("guild_quotas"."used" >= 0),
	CONSTRAINT "guild_quotas_custom_limit_nonnegative" CHECK ("guild_quotas"."custom_limit" >= 0)
);
--> statement-breakpoint
ALTER TABLE "jobs" DROP CONSTRAINT "jobs_kind";--> statement-breakpoint
ALTER TABLE "images" ALTER COLUMN "png" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ALTER COLUMN "interaction_token" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "images" ADD COLUMN "stored_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "init_job_id" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "init_index" integer;--> statement-breakpoint
ALTER TABLE "quota_ledger" ADD COLUMN "guild_id" text;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_init_job_id_jobs_id_fk" FOREIGN KEY ("init_job_id") REFERENCES "public"."jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
-- The img2img source gets its own columns (the parent columns keep the lineage). A U1-U4 job
-- repeats its grid job's request, so it starts from that job's own source, not from the grid.
UPDATE "jobs" SET "init_job_id" = "parent_job_id", "init_index" = coalesce("parent_index", 0) WHERE "strength" IS NOT NULL AND "kind" <> 'select';--> statement-breakpoint
UPDATE "jobs" AS "s" SET "init_job_id" = "p"."init_job_id", "init_index" = "p"."init_index", "strength" = "p"."strength" FROM "jobs" AS "p" WHERE "s"."kind" = 'select' AND "s"."parent_job_id" = "p"."id";--> statement-breakpoint
UPDATE "jobs" SET "strength" = NULL WHERE "strength" IS NOT NULL AND "init_job_id" IS NULL;--> statement-breakpoint
CREATE INDEX "audit_log_actor_action" ON "audit_log" USING btree ("actor_id","action","created_at");--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_init_index" CHECK ("jobs"."init_index" between 0 and 3);--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_init_complete" CHECK (("jobs"."init_job_id" is null) = ("jobs"."init_index" is null) and ("jobs"."init_job_id" is null) = ("jobs"."strength" is null));--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_kind" CHECK ("jobs"."kind" in ('imagine', 'select', 'variation', 'reroll', 'rerun', 'restore'));