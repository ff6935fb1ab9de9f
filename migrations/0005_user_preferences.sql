CREATE TABLE "user_preferences" (
	"user_id" text PRIMARY KEY NOT NULL,
	"remix" boolean DEFAULT false NOT NULL,
	"aspect" text,
	"sampler" text,
	"steps" integer,
	"count" integer,
	"model" text,
	"suffix" text DEFAULT '' NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "user_preferences_sampler" CHECK ("user_preferences"."sampler" in ('euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'pndm', 'ddpm', 'unipc')),
	CONSTRAINT "user_preferences_steps" CHECK ("user_preferences"."steps" between 1 and 150),
	CONSTRAINT "user_preferences_count" CHECK ("user_preferences"."count" between 1 and 4),
	CONSTRAINT "user_preferences_suffix_length" CHECK (char_length("user_preferences"."suffix") <= 1000)
);
--> statement-breakpoint
ALTER TABLE "user_preferences" ADD CONSTRAINT "user_preferences_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;