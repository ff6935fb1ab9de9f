ALTER TABLE "jobs" DROP CONSTRAINT "jobs_kind";--> statement-breakpoint
-- U1-U4 jobs were called "upscale"; they select one image of a grid (real upscaling takes the word later).
UPDATE "jobs" SET "kind" = 'select' WHERE "kind" = 'upscale';--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_sampler" CHECK ("jobs"."sampler" in ('euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'pndm', 'ddpm', 'unipc'));--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_steps" CHECK ("jobs"."steps" between 1 and 150);--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_guidance" CHECK ("jobs"."guidance" between 0 and 30);--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_width" CHECK ("jobs"."width" between 8 and 8192);--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_height" CHECK ("jobs"."height" between 8 and 8192);--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_strength" CHECK ("jobs"."strength" > 0 and "jobs"."strength" <= 1);--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_parent_index" CHECK ("jobs"."parent_index" between 0 and 3);--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_prompt_length" CHECK (char_length("jobs"."prompt") <= 1000);--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_negative_prompt_length" CHECK (char_length("jobs"."negative_prompt") <= 1000);--> statement-breakpoint
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_kind" CHECK ("jobs"."kind" in ('imagine', 'select', 'variation', 'reroll', 'rerun'));