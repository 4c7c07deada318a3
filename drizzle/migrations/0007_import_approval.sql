ALTER TABLE "applications" ADD COLUMN "approval_updates_over" integer;--> statement-breakpoint
ALTER TABLE "applications" ADD COLUMN "approval_statuses" text[];--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "approval_required" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "approval_reasons" jsonb;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "approval_decision" text;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "approval_decided_by" uuid;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "approval_decided_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "imports" ADD CONSTRAINT "imports_approval_decided_by_operators_id_fk" FOREIGN KEY ("approval_decided_by") REFERENCES "public"."operators"("id") ON DELETE no action ON UPDATE no action;