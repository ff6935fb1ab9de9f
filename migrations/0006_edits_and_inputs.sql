CREATE TABLE "input_images" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"width" integer NOT NULL,
	"height" integer NOT NULL,
	"sha256" text NOT NULL,
	"png" "bytea",
	"stored_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "jobs" DROP CONSTRAINT "jobs_kind";--> statement-breakpoint
ALTER TABLE "jobs" DROP CONSTRAINT "jobs_edit_needs_init";--> statement-breakpoint
ALTER TABLE "jobs" DROP CONSTRAINT "jobs_init_complete";--> statement-breakpoint
ALTER TABLE "jobs" ADD COLUMN "init_input_id" text;--> statement-breakpoint
ALTER TABLE "input_images" ADD CONSTRAINT "input_images_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_init_input_id_input_images_id_fk" FOREIGN KEY ("init_input_id") REFERENCES "public"."input_images"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_kind" CHECK ("jobs"."kind" in ('imagine', 'select', 'variation', 'reroll', 'rerun', 'restore', 'region', 'zoom', 'pan', 'upscale'));--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_edit_needs_init" CHECK ("jobs"."edit" is null or "jobs"."init_job_id" is not null or "jobs"."init_input_id" is not null);--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_init_complete" CHECK (("jobs"."init_job_id" is null) = ("jobs"."init_index" is null) and ("jobs"."init_job_id" is null or "jobs"."init_input_id" is null) and ("jobs"."init_job_id" is null and "jobs"."init_input_id" is null) = ("jobs"."strength" is null));