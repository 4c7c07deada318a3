ALTER TABLE "imports" ADD COLUMN "undo_requested_actor" text;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "progress_at" timestamp (3) with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
CREATE INDEX "imports_active_progress_idx" ON "imports" USING btree ("progress_at") WHERE "imports"."status" IN ('VALIDATING', 'RUNNING', 'UNDOING');--> statement-breakpoint
-- Hand-written: progress_at moves whenever an import's durable progress does (its status, or a count a chunk write,
-- a chunk failure, a retry or an undo chunk changes), whichever code path moved it. `imports stuck` reads it.
CREATE FUNCTION imports_touch_progress_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.progress_at := clock_timestamp();
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER imports_progress_at BEFORE UPDATE ON "imports" FOR EACH ROW
WHEN (
  OLD.status IS DISTINCT FROM NEW.status
  OR OLD.total_rows IS DISTINCT FROM NEW.total_rows
  OR OLD.processed_rows IS DISTINCT FROM NEW.processed_rows
  OR OLD.failed_rows IS DISTINCT FROM NEW.failed_rows
  OR OLD.chunks_completed IS DISTINCT FROM NEW.chunks_completed
  OR OLD.chunks_failed IS DISTINCT FROM NEW.chunks_failed
  OR OLD.undo_restored IS DISTINCT FROM NEW.undo_restored
  OR OLD.undo_deleted IS DISTINCT FROM NEW.undo_deleted
  OR OLD.undo_conflicts IS DISTINCT FROM NEW.undo_conflicts
)
EXECUTE FUNCTION imports_touch_progress_at();
