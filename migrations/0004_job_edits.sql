ALTER TABLE "jobs" ADD COLUMN "edit" jsonb;--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_edit_needs_init" CHECK ("jobs"."edit" is null or "jobs"."init_job_id" is not null);