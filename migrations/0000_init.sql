CREATE TABLE "audit_log" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_log_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"actor_id" text NOT NULL,
	"action" text NOT NULL,
	"target_id" text,
	"details" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "guild_settings" (
	"guild_id" text PRIMARY KEY NOT NULL,
	"default_quota" integer,
	"allowed_channel_ids" text[] DEFAULT '{}'::text[] NOT NULL,
	"banned_words" text[] DEFAULT '{}'::text[] NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_by" text,
	CONSTRAINT "guild_settings_default_quota_nonnegative" CHECK ("guild_settings"."default_quota" >= 0)
);
--> statement-breakpoint
CREATE TABLE "images" (
	"job_id" text NOT NULL,
	"index" integer NOT NULL,
	"seed" bigint NOT NULL,
	"width" integer NOT NULL,
	"height" integer NOT NULL,
	"sha256" text NOT NULL,
	"png" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "images_pkey" PRIMARY KEY("job_id","index")
);
--> statement-breakpoint
CREATE TABLE "jobs" (
	"id" text PRIMARY KEY NOT NULL,
	"interaction_id" text NOT NULL,
	"interaction_token" text NOT NULL,
	"interaction_token_expires_at" timestamp with time zone NOT NULL,
	"user_id" text NOT NULL,
	"guild_id" text,
	"channel_id" text NOT NULL,
	"message_id" text,
	"kind" text NOT NULL,
	"parent_job_id" text,
	"parent_index" integer,
	"prompt" text NOT NULL,
	"negative_prompt" text DEFAULT '' NOT NULL,
	"model" text NOT NULL,
	"model_hash" text,
	"sampler" text NOT NULL,
	"steps" integer NOT NULL,
	"guidance" double precision NOT NULL,
	"width" integer NOT NULL,
	"height" integer NOT NULL,
	"count" integer NOT NULL,
	"strength" double precision,
	"seed" bigint NOT NULL,
	"rng" text NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"error" text,
	"cost" integer NOT NULL,
	"priority" integer DEFAULT 1 NOT NULL,
	"worker_id" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"cancelled_by" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone,
	"timings" jsonb,
	"delivered_at" timestamp with time zone,
	"delivery_error" text,
	CONSTRAINT "jobs_interaction_id_unique" UNIQUE("interaction_id"),
	CONSTRAINT "jobs_status" CHECK ("jobs"."status" in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	CONSTRAINT "jobs_kind" CHECK ("jobs"."kind" in ('imagine', 'variation', 'upscale', 'reroll', 'rerun')),
	CONSTRAINT "jobs_rng" CHECK ("jobs"."rng" in ('numpy', 'torch')),
	CONSTRAINT "jobs_count" CHECK ("jobs"."count" between 1 and 4),
	CONSTRAINT "jobs_cost_nonnegative" CHECK ("jobs"."cost" >= 0),
	CONSTRAINT "jobs_seed_range" CHECK ("jobs"."seed" between 0 and 4294967295)
);
--> statement-breakpoint
CREATE TABLE "quota_ledger" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "quota_ledger_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"user_id" text NOT NULL,
	"kind" text NOT NULL,
	"used_delta" integer DEFAULT 0 NOT NULL,
	"bonus_delta" integer DEFAULT 0 NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"job_id" text,
	"actor_id" text,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "quota_ledger_kind" CHECK ("quota_ledger"."kind" in ('charge', 'refund', 'grant', 'reset', 'limit'))
);
--> statement-breakpoint
CREATE TABLE "quotas" (
	"user_id" text PRIMARY KEY NOT NULL,
	"custom_limit" integer,
	"period_seconds" integer DEFAULT 86400 NOT NULL,
	"used" integer DEFAULT 0 NOT NULL,
	"bonus" integer DEFAULT 0 NOT NULL,
	"period_start" timestamp with time zone NOT NULL,
	"resets_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "quotas_used_nonnegative" CHECK ("quotas"."used" >= 0),
	CONSTRAINT "quotas_bonus_nonnegative" CHECK ("quotas"."bonus" >= 0),
	CONSTRAINT "quotas_custom_limit_nonnegative" CHECK ("quotas"."custom_limit" >= 0),
	CONSTRAINT "quotas_period_positive" CHECK ("quotas"."period_seconds" > 0)
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"key" text PRIMARY KEY NOT NULL,
	"value" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_by" text
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" text PRIMARY KEY NOT NULL,
	"first_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"banned" boolean DEFAULT false NOT NULL,
	"ban_reason" text,
	"banned_at" timestamp with time zone,
	"banned_by" text
);
--> statement-breakpoint
ALTER TABLE "images" ADD CONSTRAINT "images_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_parent_job_id_jobs_id_fk" FOREIGN KEY ("parent_job_id") REFERENCES "public"."jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "quota_ledger" ADD CONSTRAINT "quota_ledger_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "quota_ledger" ADD CONSTRAINT "quota_ledger_job_id_jobs_id_fk" FOREIGN KEY ("job_id") REFERENCES "public"."jobs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "quotas" ADD CONSTRAINT "quotas_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audit_log_created" ON "audit_log" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "audit_log_target" ON "audit_log" USING btree ("target_id","created_at");--> statement-breakpoint
CREATE INDEX "jobs_user_created" ON "jobs" USING btree ("user_id","created_at");--> statement-breakpoint
CREATE INDEX "jobs_user_active" ON "jobs" USING btree ("user_id") WHERE "jobs"."status" in ('queued', 'running');--> statement-breakpoint
CREATE INDEX "jobs_queued_model_created" ON "jobs" USING btree ("model","created_at") WHERE "jobs"."status" = 'queued';--> statement-breakpoint
CREATE INDEX "quota_ledger_user_period" ON "quota_ledger" USING btree ("user_id","period_start");--> statement-breakpoint
CREATE UNIQUE INDEX "quota_ledger_one_charge_per_job" ON "quota_ledger" USING btree ("job_id") WHERE "quota_ledger"."kind" = 'charge';--> statement-breakpoint
CREATE UNIQUE INDEX "quota_ledger_one_refund_per_job" ON "quota_ledger" USING btree ("job_id") WHERE "quota_ledger"."kind" = 'refund';