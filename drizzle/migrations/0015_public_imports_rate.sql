ALTER TABLE "imports" ALTER COLUMN "operator_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "audit_log" ADD COLUMN "api_key_prefix" text;--> statement-breakpoint
ALTER TABLE "exports" ADD COLUMN "rate_since" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "exports" ADD COLUMN "rate_base_rows" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "api_key_prefix" text;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "auto_confirm" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "rate_since" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "rate_base_rows" integer DEFAULT 0 NOT NULL;