ALTER TABLE "import_rows" ADD COLUMN "normalized" jsonb;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "options" jsonb;