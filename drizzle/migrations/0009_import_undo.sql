CREATE TABLE "import_undo_images" (
	"import_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"chunk_no" integer NOT NULL,
	"kind" text NOT NULL,
	"vendor_data" text NOT NULL,
	"before" jsonb,
	"written_updated_at" timestamp (3) with time zone NOT NULL,
	"outcome" text,
	"reason" text,
	CONSTRAINT "import_undo_images_import_id_chunk_no_user_id_pk" PRIMARY KEY("import_id","chunk_no","user_id")
);
--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "undo_status" text;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "undo_requested_by" uuid;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "undo_requested_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "undo_restored" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "undo_deleted" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "undo_conflicts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "imports" ADD COLUMN "undo_finished_at" timestamp (3) with time zone;--> statement-breakpoint
ALTER TABLE "import_undo_images" ADD CONSTRAINT "import_undo_images_import_id_imports_id_fk" FOREIGN KEY ("import_id") REFERENCES "public"."imports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "imports" ADD CONSTRAINT "imports_undo_requested_by_operators_id_fk" FOREIGN KEY ("undo_requested_by") REFERENCES "public"."operators"("id") ON DELETE no action ON UPDATE no action;